from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from jobs import checks, signals  # noqa: F401 - registers the checks and worker heartbeat
        from jobs.diagnostic import DIAGNOSTIC
        from jobs.registry import job_type_register

        job_type_register(DIAGNOSTIC)
