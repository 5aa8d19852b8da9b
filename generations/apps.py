from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self):
        from generations.services import GENERATION_TYPES
        from jobs.registry import job_type_register

        for job_type in GENERATION_TYPES.values():
            job_type_register(job_type)
