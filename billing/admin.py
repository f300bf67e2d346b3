"""The staff console's view of metered usage: read-only, the meter writes it."""

from django.contrib import admin

from billing.models import AiUsage
from kernel.admin import ReadOnlyAdmin


@admin.register(AiUsage)
class AiUsageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "user", "model", "tokens_in", "tokens_out", "cost", "currency"]
    list_filter = ["model", "month"]
    search_fields = ["tenant__slug", "user__email"]
    date_hierarchy = "created_at"
