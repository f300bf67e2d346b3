"""Tenant resolution for HTTP: an API key decides the tenant (whatever the host); otherwise the host."""

import hmac
from collections.abc import Callable

from django.conf import settings
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware

from kernel.browser_middleware import api_request_with_key
from kernel.problems import problem_response
from tenants import key_cache, tokens
from tenants.models import ApiKey, Membership, TenantStatus
from tenants.schema import use_public_schema, use_tenant_schema


def _bearer_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


CREATOR_ROLE_SQL = (
    f"SELECT m.role FROM {Membership._meta.db_table} m "
    f"WHERE m.user_id = {ApiKey._meta.db_table}.created_by_id AND m.tenant_id = {ApiKey._meta.db_table}.tenant_id"
)


def lookup_api_key(raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None: from the cache (tenants.key_cache), else the database."""
    prefix = tokens.split_api_key(raw)
    if prefix is None:
        return None
    digest = tokens.digest(raw)
    entry = key_cache.cached(digest)
    if isinstance(entry, ApiKey):
        return entry
    # The creator's role in the key's tenant comes in the same query: every request needs it (a key
    # acts with at most its creator's role now, tenants.roles). Raw SQL: the ORM's Subquery costs
    # about 2 ms of Python to compile on every request.
    key = (
        ApiKey.objects.select_related("tenant", "created_by")
        .defer("created_by__password")
        .annotate(creator_role=RawSQL(CREATOR_ROLE_SQL, ()))  # noqa: S611 - table names from our models, no input
        .filter(prefix=prefix)
        .first()
    )
    if key is None or key.revoked_at is not None or not hmac.compare_digest(digest, key.key_hash):
        return None
    if entry is None:  # not while a tombstone stands: the change that set it may not be visible yet
        key_cache.remember(digest, key)
    return key


class TenantResolutionMiddleware(TenantMainMiddleware):
    """Sets `request.tenant` (absent on the public host), the schema, and the URLconf.

    An `Authorization: Bearer` header decides everything: a valid key routes to its own tenant (or
    to the public URLconf for a staff key) whatever the host; an invalid one is answered 401 here.
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        use_public_schema()
        request.api_key = None  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request
        raw = _bearer_token(request)
        if raw is not None:
            key = lookup_api_key(raw)
            if key is None:
                # Refuse here rather than route by host: a bad key must never reach any tenant.
                response = problem_response(
                    request,
                    401,
                    "This API key is invalid or revoked; create a new one in the portal.",
                    code="invalid-key",
                )
                response["WWW-Authenticate"] = "Bearer"
                return response
            request.api_key = key  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request
            if api_request_with_key(request):
                # The key acts for its creator. Set here because API calls with a key skip sessions
                # and Django's authentication (kernel.browser_middleware); DRF's ApiKeyAuthentication
                # then checks that the creator is still active and still a member.
                request.user = key.created_by
            self._route(request, key.tenant)
            return None
        return super().process_request(request)

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse | None:
        self._route(request, None)
        return None

    @staticmethod
    def _route(request: HttpRequest, tenant: object | None) -> None:
        if tenant is None:
            # No `request.tenant` at all on the public host: django-tenants' admin templates test
            # for its absence. Our code reads it with getattr(request, "tenant", None).
            use_public_schema()
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request
        else:
            request.tenant = tenant  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request
            use_tenant_schema(tenant)
            request.urlconf = settings.ROOT_URLCONF  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request
        set_urlconf(request.urlconf)  # type: ignore[attr-defined]  # tenant resolution puts its results on Django's request


class SuspendedTenantMiddleware:
    """A suspended tenant's portal and API answer 403 with the reason; staff still get through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        closed = (TenantStatus.SUSPENDED, TenantStatus.DELETING)
        # Staff signed in may look at a closed organisation; a key never may, whoever made it.
        staff = request.user.is_staff and getattr(request, "api_key", None) is None
        if tenant is not None and tenant.status in closed and not staff:
            exempt = request.path.startswith("/accounts/")
            if not exempt:
                message = (
                    f"The organisation “{tenant.name}” is suspended: {tenant.suspended_reason}"
                    if tenant.status == TenantStatus.SUSPENDED
                    else f"The organisation “{tenant.name}” is being deleted."
                )
                if request.path.startswith("/api/"):
                    return problem_response(request, 403, message, code=f"tenant-{tenant.status}")
                return render(request, "portal/suspended.html", {"tenant": tenant}, status=403)
        return self.get_response(request)
