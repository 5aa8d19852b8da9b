from django.apps import AppConfig


class SharelinksConfig(AppConfig):
    name = "sharelinks"
