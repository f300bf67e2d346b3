"""Staff console: every tenant's domains with their three statuses, and the local zone's records.
Read-only here: a domain changes through its services (the API, the portal, the chat), audited."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from dns.models import CustomDomain, ZoneRecord
from dns.services import domain_verify_request
from tenants.audit import Actor
from tenants.requests import user_of


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CustomDomain)
class CustomDomainAdmin(_ReadOnly):
    list_display = ["hostname", "tenant", "site_slug", "status", "ownership", "dns", "certificate", "last_checked_at"]
    list_filter = ["status", "ownership", "dns", "certificate"]
    search_fields = ["hostname", "site_slug", "tenant__slug"]
    readonly_fields = [field.name for field in CustomDomain._meta.fields if field.name != "token"]
    exclude = ["token"]
    actions = ["check_now"]

    @admin.action(description="Check the selected domains now")
    def check_now(self, request: HttpRequest, queryset: QuerySet[CustomDomain]) -> None:
        actor = Actor.staff_console(user_of(request))
        for domain in queryset.select_related("tenant"):
            domain_verify_request(tenant=domain.tenant, actor=actor, domain=domain.hostname)
        self.message_user(request, f"{queryset.count()} domain(s) will be checked in a moment.")


@admin.register(ZoneRecord)
class ZoneRecordAdmin(_ReadOnly):
    list_display = ["name", "type", "content", "ttl", "zone", "updated_at"]
    list_filter = ["zone", "type"]
    search_fields = ["name", "content"]
