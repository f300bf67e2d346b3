"""The staff console's view of metered usage: read-only, the meter writes it."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from billing.models import AiUsage, Budget, BudgetEnforcement, CostAlert, CostRecord
from billing.selectors import staff_cost_overview
from kernel.admin import ReadOnlyAdmin
from tenants.audit import Actor
from tenants.requests import user_of


@admin.register(AiUsage)
class AiUsageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "user", "model", "tokens_in", "tokens_out", "cost", "currency"]
    list_filter = ["model", "month"]
    search_fields = ["tenant__slug", "user__email"]
    date_hierarchy = "created_at"


@admin.register(CostRecord)
class CostRecordAdmin(ReadOnlyAdmin):
    """Daily cost records; the list opens with the overview across tenants (top this month beside
    last month, and cost that no tenant label accounts for)."""

    list_display = ["day", "tenant", "site_slug", "service", "net", "gross", "credits", "currency"]
    list_filter = ["service", "currency", ("tenant", admin.EmptyFieldListFilter)]
    search_fields = ["tenant__slug", "site_slug", "service", "tenant_label"]
    date_hierarchy = "day"
    change_list_template = "admin/billing/costrecord/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        overview = staff_cost_overview(actor=Actor.staff_console(user_of(request)))
        return super().changelist_view(request, {**(extra_context or {}), "overview": overview})


@admin.register(Budget)
class BudgetAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "site_slug", "amount", "currency", "action", "updated_at"]
    list_filter = ["action", "currency"]
    search_fields = ["tenant__slug", "site_slug"]


@admin.register(CostAlert)
class CostAlertAdmin(ReadOnlyAdmin):
    list_display = ["day", "tenant", "site_slug", "cost", "baseline", "currency", "created_at"]
    search_fields = ["tenant__slug", "site_slug"]
    date_hierarchy = "day"


@admin.register(BudgetEnforcement)
class BudgetEnforcementAdmin(ReadOnlyAdmin):
    list_display = ["month", "tenant", "site_slug", "action", "previous_workers", "applied_at", "undone_at"]
    list_filter = ["action"]
