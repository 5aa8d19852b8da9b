from django.apps import AppConfig


class SharelinksConfig(AppConfig):
    name = "sharelinks"
    verbose_name = "Share links"

    def ready(self):
        from sharelinks.signals import resource_deletions_watch

        resource_deletions_watch()
