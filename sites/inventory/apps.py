from django.apps import AppConfig


class SiteInventoryConfig(AppConfig):
    """The public-schema list of every site, for staff and fleet jobs (the full record is per tenant)."""

    name = "sites.inventory"
    label = "site_inventory"
    verbose_name = "Site inventory"
    default_auto_field = "django.db.models.BigAutoField"
