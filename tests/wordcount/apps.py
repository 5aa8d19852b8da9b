from django.apps import AppConfig


class WordCountConfig(AppConfig):
    name = "tests.wordcount"
    label = "wordcount"

    def ready(self):
        from jobs.registry import job_type_register
        from tests.wordcount.jobs import WORD_COUNT

        job_type_register(WORD_COUNT)
