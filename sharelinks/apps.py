from django.apps import AppConfig


class SharelinksConfig(AppConfig):
    name = "sharelinks"
    verbose_name = "Share links"
