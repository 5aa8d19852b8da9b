from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self):
        from core.files import files_deleted_with_rows
        from generations.models import DrawnImage, GeneratedImage
        from generations.services import GENERATION_TYPES
        from jobs.registry import job_type_register

        for job_type in GENERATION_TYPES.values():
            job_type_register(job_type)
        files_deleted_with_rows(GeneratedImage, "file")
        files_deleted_with_rows(DrawnImage, "file")
