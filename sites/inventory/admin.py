"""Staff console: every site across tenants, from the public inventory."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from kernel.client_address import client_ip
from kernel.errors import ServiceError
from sites import selectors, services
from sites.inventory.models import SiteRecord
from sites.models import SiteStatus
from tenants.audit import Actor
from tenants.requests import user_of


@admin.register(SiteRecord)
class SiteRecordAdmin(admin.ModelAdmin):
    list_display = ["hostname", "tenant", "slug", "status", "runtime", "updated_at"]
    list_filter = ["status", "runtime"]
    search_fields = ["hostname", "slug", "tenant__slug"]
    readonly_fields = [
        "tenant", "site_id", "slug", "status", "runtime", "hostname", "attention_at", "checked_at",
        "created_at", "updated_at", "operations", "events",
    ]  # fmt: skip
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting a site removes real resources: through the API or CLI, with its pipeline

    @admin.display(description="recent operations (newest first)")
    def operations(self, record: SiteRecord) -> SafeString:
        found = selectors.site_operations(
            tenant=record.tenant, actor=Actor.system("staff console"), name=record.slug, limit=10
        )
        rows = [
            (
                o.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                o.kind,
                o.state,
                o.current_step,
                o.requested_by_label,
                o.error[:200],
            )
            for o in found
        ]
        return format_html_join("\n", "<div>{} · {} · {} · {} · by {} {}</div>", rows) or SafeString("none")

    @admin.display(description="recent events (newest first)")
    def events(self, record: SiteRecord) -> SafeString:
        found = selectors.site_events(
            tenant=record.tenant, actor=Actor.system("staff console"), name=record.slug, limit=30
        )
        rows = [
            (e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.step, e.outcome, e.duration_ms or "", e.detail[:200])
            for e in found
        ]
        return format_html_join("\n", "<div>{} · {} · {} · {} ms · {}</div>", rows) or SafeString("none")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Retrying runs the platform's own hand on a tenant's site: staff who may change sites only.
        return request.user.has_perm("site_inventory.change_siterecord")

    @admin.action(description="Retry the selected failed sites (or their failed deletion)", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = Actor.staff_console(user_of(request), client_ip(request))
        retried = 0
        for record in queryset.select_related("tenant"):
            if record.status not in (SiteStatus.FAILED, SiteStatus.DELETING):
                messages.warning(request, f"{record.hostname} is {record.status}, not failed: skipped.")
                continue
            try:
                services.site_retry(tenant=record.tenant, actor=actor, name=record.slug)
                retried += 1
            except ServiceError as exc:
                messages.error(request, f"{record.hostname}: {exc.message}")
        if retried:
            messages.success(request, f"Retrying {retried} site(s).")
