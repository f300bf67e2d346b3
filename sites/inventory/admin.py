"""Staff console: every site across tenants, from the public inventory."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django_tenants.utils import tenant_context

from aipress.errors import ServiceError
from sites import selectors, services
from sites.inventory.models import SiteRecord
from sites.models import SiteStatus


@admin.register(SiteRecord)
class SiteRecordAdmin(admin.ModelAdmin):
    list_display = ["hostname", "tenant", "slug", "status", "runtime", "updated_at"]
    list_filter = ["status", "runtime"]
    search_fields = ["hostname", "slug", "tenant__slug"]
    readonly_fields = [
        "tenant",
        "site_id",
        "slug",
        "status",
        "runtime",
        "hostname",
        "created_at",
        "updated_at",
        "events",
    ]
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting a site removes real resources: through the API or CLI, with its pipeline

    @admin.display(description="recent events (newest first)")
    def events(self, record: SiteRecord) -> SafeString:
        with tenant_context(record.tenant):
            site = selectors.site_get(record.slug)
            rows = [
                (e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.step, e.outcome, e.duration_ms or "", e.detail[:200])
                for e in (selectors.site_events(site, limit=30) if site else [])
            ]
        return format_html_join("\n", "<div>{} · {} · {} · {} ms · {}</div>", rows) or "none"

    @admin.action(description="Retry provisioning of the selected failed sites")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for record in queryset.select_related("tenant"):
            with tenant_context(record.tenant):
                site = selectors.site_get(record.slug)
                if site is None or site.status != SiteStatus.FAILED:
                    messages.warning(request, f"{record.hostname} is {record.status}, not failed: skipped.")
                    continue
                try:
                    services.site_provision_start(site=site, tenant=record.tenant)
                    retried += 1
                except ServiceError as exc:
                    messages.error(request, f"{record.hostname}: {exc.message}")
        if retried:
            messages.success(request, f"Retrying {retried} site(s).")
