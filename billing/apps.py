from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    label = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import drivers, signals

        # Checks the configured source now: a process with a wrong BILLING_SOURCE refuses to start.
        drivers.register()
        signals.connect()
