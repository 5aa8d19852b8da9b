from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Tenants and access"

    def ready(self):
        from accounts import (
            schema,  # noqa: F401 - registers the OpenAPI authentication schemes
            signals,  # noqa: F401 - drops cached API keys on change
        )
