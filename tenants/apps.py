from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants import key_cache  # noqa: F401 - connects the receivers that keep cached API keys current
