from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    label = "chat"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import drivers, signals

        # Checks the configured assistant now: a process with a wrong ASSISTANT refuses to start.
        drivers.register()
        signals.connect()
