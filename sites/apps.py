from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "sites"
    label = "sites"
    verbose_name = "Sites"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sites import drivers, signals

        # Checks the configured drivers now: a process with a wrong SITES_RUNTIME refuses to start.
        drivers.register()
        signals.connect()
