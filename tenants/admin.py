"""Staff console: the fleet's tenants, people, keys and the audit log. Public host only."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from kernel.admin import ReadOnlyAdmin
from kernel.errors import ServiceError
from tenants import services
from tenants.audit import Actor
from tenants.forms import DeleteConfirmForm, ReasonForm
from tenants.models import ApiKey, AuditEvent, Domain, Invitation, Membership, Tenant, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    fields = ["email", "role", "state", "invited_by", "created_at", "expires_at"]
    readonly_fields = ["email", "role", "state", "invited_by", "created_at", "expires_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="state")
    def state(self, invitation: Invitation) -> str:
        return invitation.state


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]
    readonly_fields = ["domain"]


def _reason_action(
    request: HttpRequest, queryset: QuerySet, *, title: str, verb: str, apply: object
) -> HttpResponse | None:
    """Intermediate page that asks for a reason, then applies the service to each selected tenant."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for tenant in queryset:
                try:
                    apply(actor=Actor.from_request(request), tenant=tenant, reason=form.cleaned_data["reason"])  # type: ignore[operator]  # apply is one of the services passed in, called with their keyword arguments
                    done += 1
                except ServiceError as exc:
                    messages.error(request, f"{tenant.slug}: {exc.message}")
            if done:
                messages.success(request, f"{verb} {done} tenant(s).")
            return None
    else:
        form = ReasonForm()
    context = {
        **admin.site.each_context(request),
        "title": title,
        "tenants": queryset,
        "form": form,
        "action": request.POST.get("action"),
        "opts": Tenant._meta,
    }
    return TemplateResponse(request, "admin/tenants/reason_action.html", context)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "member_count", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["slug", "name", "memberships__user__email"]
    readonly_fields = [
        "schema_name", "status", "suspended_reason", "created_at", "activated_at",
        "provision_attempts", "last_error",
    ]  # fmt: skip
    fields = ["slug", "name", "max_sites", "max_members", *readonly_fields]
    inlines = [DomainInline, MembershipInline, InvitationInline]
    actions = ["suspend_tenants", "reactivate_tenants", "delete_tenant"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting the row would orphan the tenant's sites: "Delete tenant…" removes them first.
        return False

    @admin.action(description="Delete tenant… (its sites first)")
    def delete_tenant(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            messages.error(request, "Delete one tenant at a time.")
            return None
        tenant = queryset.get()
        form = DeleteConfirmForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                services.tenant_delete(
                    actor=Actor.from_request(request), tenant=tenant, confirm=form.cleaned_data["confirm"]
                )
            except ServiceError as exc:
                messages.error(request, f"{tenant.slug}: {exc.message}")
            else:
                messages.success(request, f"Deleting {tenant.slug}: its sites first, then its data.")
                return None
        context = {**admin.site.each_context(request), "title": "Delete tenant", "tenant": tenant, "form": form,
                   "opts": Tenant._meta}  # fmt: skip
        return TemplateResponse(request, "admin/tenants/delete_action.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_member_count=Count("memberships", distinct=True))

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> list[str]:
        # The slug names the tenant's host: it is fixed once the tenant exists.
        return [*self.readonly_fields, "slug"] if obj else list(self.readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tenants are created through the service (CLI, API, sign-up) so their schema gets made.
        return False

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, tenant: Tenant) -> int:
        count: int = getattr(tenant, "_member_count", 0)  # annotated by get_queryset
        return count

    @admin.action(description="Suspend selected tenants…")
    def suspend_tenants(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _reason_action(
            request, queryset, title="Suspend tenants", verb="Suspended", apply=services.tenant_suspend
        )

    @admin.action(description="Reactivate selected tenants…")
    def reactivate_tenants(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _reason_action(
            request, queryset, title="Reactivate tenants", verb="Reactivated", apply=services.tenant_resume
        )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    list_filter = ["is_staff", "is_active"]
    fieldsets = [
        (None, {"fields": ["email", "name", "password"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = ()


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "prefix", "name", "tenant", "role", "scope", "created_by", "created_at", "last_used_at", "revoked_at",
    ]  # fmt: skip
    list_filter = ["revoked_at", "role", "scope"]
    search_fields = ["prefix", "name", "tenant__slug"]
    readonly_fields = [
        "tenant", "name", "prefix", "role", "scope", "created_by", "created_at", "last_used_at", "revoked_at",
    ]  # fmt: skip
    exclude = ["key_hash"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset.filter(revoked_at=None):
            services.api_key_revoke(actor=Actor.from_request(request), key=key)
        messages.success(request, "Revoked.")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "tenant_slug", "target", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_label", "tenant_slug", "target", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
