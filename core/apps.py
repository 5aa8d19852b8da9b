from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Offload core"

    def ready(self):
        from django.db.models.signals import post_migrate

        from core import celery_signals  # noqa: F401 - connects the task signal handlers
        from core.converters import converters_register
        from core.scheduling import schedules_sync_after_migrate

        converters_register()
        post_migrate.connect(schedules_sync_after_migrate, sender=self)
