"""The staff console's view of definitions applied: what was asked, by whom, and how it went."""

from django.contrib import admin

from definitions.models import Application
from kernel.admin import ReadOnlyAdmin


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant_slug", "state", "requested_by_label", "finished_at"]
    list_filter = ["state"]
    search_fields = ["tenant_slug", "requested_by_label"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "tenant", "tenant_slug", "state", "error", "requested_by_label", "created_at", "finished_at",
        "document", "changes", "operations",
    ]  # fmt: skip
