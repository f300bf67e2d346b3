from django.apps import AppConfig


class DnsConfig(AppConfig):
    # The package is `dns`: it shadows dnspython's, which the platform therefore never uses
    # (DESIGN.md, "Known traps"); queries and the local server are dnslib's.
    name = "dns"
    label = "dns"
    verbose_name = "DNS and domains"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dns import drivers, signals

        # Checks the configured provider now: a process with a wrong DNS_PROVIDER refuses to start.
        drivers.register()
        signals.connect()
