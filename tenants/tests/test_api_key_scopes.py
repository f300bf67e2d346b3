"""API key scopes: a read key looks, a write key also changes. Keys get a scope from the API, the
portal and the CLI; keys made before scopes existed are write keys; a read key is refused every
write operation of the API, found from the OpenAPI document so a new write endpoint is covered
without anyone adding it here."""

import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django_tenants.utils import tenant_context
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from kernel.errors import NotPermitted
from tenants import services
from tenants.audit import Actor
from tenants.authentication import ApiKeyAuthentication
from tenants.models import ApiKey, ApiKeyScope, AuditEvent, Role, Tenant, User
from tenants.roles import SITE_WRITERS, WriterRoles
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
WRITE_METHODS = ("post", "put", "patch", "delete")


def _key(tenant: Tenant | None, owner: User, scope: str, role: str = Role.ADMIN) -> tuple[ApiKey, str]:
    return services.api_key_create(
        actor=Actor.of_user(owner), tenant=tenant, name=f"{scope} key", role=role, scope=scope
    )


# --- Names other code relies on -----------------------------------------------------------------


def test_scope_names_and_properties(tenant: Tenant, owner: User) -> None:
    assert (ApiKeyScope.READ, ApiKeyScope.WRITE) == ("read", "write")
    read, _ = _key(tenant, owner, ApiKeyScope.READ)
    write, _ = _key(tenant, owner, ApiKeyScope.WRITE)
    assert read.is_read_only and not write.is_read_only
    assert Actor.of_key(read).read_only
    assert not Actor.of_key(write).read_only
    assert not Actor.of_user(owner).read_only
    assert not Actor.system("tests").read_only


def test_existing_keys_are_write_keys(tenant: Tenant, owner: User) -> None:
    # Rows the migration met got the field's default: write.
    migration = importlib.import_module("tenants.migrations.0005_api_key_scope")
    (added,) = [op for op in migration.Migration.operations if getattr(op, "name", "") == "scope"]
    assert added.field.default == ApiKeyScope.WRITE
    assert ApiKey._meta.get_field("scope").default == ApiKeyScope.WRITE
    # A key made without naming a scope, by the service or straight in the table, is a write key.
    key, _ = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="old")
    assert key.scope == ApiKeyScope.WRITE
    raw_row = ApiKey.objects.create(tenant=tenant, name="raw", prefix="rawrow01", key_hash="0" * 64, created_by=owner)
    raw_row.refresh_from_db()
    assert raw_row.scope == ApiKeyScope.WRITE


# --- Creating keys with a scope -------------------------------------------------------------------


def test_api_creates_keys_with_each_scope_and_lists_it(
    tenant: Tenant, owner: User, client_for: Callable[..., APIClient]
) -> None:
    api = client_for(tenant, user=owner)
    read = api.post("/api/v1/api-keys/", {"name": "dash", "scope": "read"}, format="json")
    assert read.status_code == 201, read.content
    assert read.json()["scope"] == "read"
    default = api.post("/api/v1/api-keys/", {"name": "ci"}, format="json")
    assert default.json()["scope"] == "write"
    listed = {k["name"]: k["scope"] for k in api.get("/api/v1/api-keys/").json()}
    assert listed == {"dash": "read", "ci": "write"}
    audited = AuditEvent.objects.filter(action="apikey.create", tenant=tenant).order_by("created_at")
    assert [event.details["scope"] for event in audited] == ["read", "write"]


def test_api_refuses_an_unknown_scope_as_a_field_error(
    tenant: Tenant, owner: User, client_for: Callable[..., APIClient]
) -> None:
    response = client_for(tenant, user=owner).post("/api/v1/api-keys/", {"name": "x", "scope": "admin"}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert [error["field"] for error in response.json()["errors"]] == ["scope"]
    assert not ApiKey.objects.filter(tenant=tenant).exists()


def test_service_refuses_an_unknown_scope(tenant: Tenant, owner: User) -> None:
    from kernel.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="x", scope="everything")
    assert refused.value.field == "scope"


def test_portal_preselects_read_creates_each_scope_and_lists_it(
    tenant: Tenant, owner: User, client_for: Callable[..., APIClient]
) -> None:
    client = client_for(tenant, user=owner)
    page = client.get("/api-keys/").content.decode()
    assert '<option value="read" selected>' in page
    assert '<option value="write">' in page
    client.post("/api-keys/", {"name": "Dashboard", "role": "billing", "scope": "read"})
    client.post("/api-keys/", {"name": "Deploys", "role": "admin", "scope": "write"})
    assert dict(ApiKey.objects.filter(tenant=tenant).values_list("name", "scope")) == {
        "Dashboard": "read",
        "Deploys": "write",
    }
    listing = client.get("/api-keys/").content.decode()
    assert '<th scope="col">Scope</th>' in listing
    assert "<td>read</td>" in listing and "<td>write</td>" in listing


def test_cli_creates_keys_with_each_scope(tenant: Tenant) -> None:
    for args, expected in ((["--scope", "read"], "read"), ([], "write")):
        call_command("apikey", "create", "--tenant", tenant.slug, "--name", f"cli-{expected}", *args)
        assert ApiKey.objects.get(name=f"cli-{expected}").scope == expected
    staff: User = UserFactory.create(is_staff=True)
    call_command("apikey", "create", "--staff", staff.email, "--name", "ops-read", "--scope", "read")
    assert ApiKey.objects.get(name="ops-read", tenant=None).scope == "read"
    with pytest.raises(CommandError):
        call_command("apikey", "create", "--tenant", tenant.slug, "--name", "bad", "--scope", "root")


def test_staff_console_lists_the_scope(tenant: Tenant, owner: User, client_for: Callable[..., APIClient]) -> None:
    _key(tenant, owner, ApiKeyScope.READ)
    page = client_for(None, user=UserFactory(is_staff=True, is_superuser=True)).get("/admin/tenants/apikey/")
    assert page.status_code == 200
    assert "field-scope" in page.content.decode()


# --- Every write of the API, refused to a read key ----------------------------------------------


def _document() -> dict[str, Any]:
    return SchemaGenerator(urlconf="aipress.urls_api_schema").get_schema(request=None, public=True)


DOCUMENT = _document()


def _operations(methods: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of the document, for the given methods."""
    return [
        (method, path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in methods
    ]


def _routes(urlconf: str) -> list[tuple[str, Any]]:
    """(path template as the document writes it, view) of every URL under /api/v1/ of a URLconf."""
    found: list[tuple[str, Any]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
                found.append(("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), entry.callback))

    walk(get_resolver(urlconf).url_patterns, "")
    return found


def test_the_document_lists_every_write_route_and_every_api_view_is_drf() -> None:
    """The enumeration below is only as good as the document: prove nothing writes outside it."""
    routed: set[tuple[str, str]] = set()
    for urlconf in (settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF):
        for path, view in _routes(urlconf):
            view_class = getattr(view, "cls", None)
            # A plain Django view here would act with the key (Actor.from_request) unchecked.
            assert view_class is not None and issubclass(view_class, APIView), f"{path} is not a DRF view"
            writes = {(method, path) for method in WRITE_METHODS if hasattr(view_class, method)}
            # The scope is enforced by this authentication class: a writing view that drops it
            # escapes (a public, read-only one, like the definitions' JSON schema, may).
            assert not writes or ApiKeyAuthentication in view_class.authentication_classes, f"{path} skips keys"
            routed |= writes
    documented = {(method, path) for method, path, _ in _operations(WRITE_METHODS)}
    assert routed == documented
    assert ("post", "/api/v1/chat/messages") in documented  # the assistant can run writing tools


@pytest.fixture
def world(tenant: Tenant, owner: User, add_member: Callable[..., User]) -> dict[str, Any]:
    """One tenant with one of everything the API can change, and each path parameter's value."""
    from billing import services as billing_services
    from chat import services as chat_services
    from chat.messages import ChatScope
    from dns import services as dns_services
    from sites import services as site_services

    as_owner = Actor.of_user(owner)
    member = add_member(tenant, Role.MEMBER)
    invitation = services.invitation_create(actor=as_owner, tenant=tenant, email="new@acme.test", role="member")
    other_key, _ = _key(tenant, owner, ApiKeyScope.WRITE)
    _, operation, _ = site_services.site_request(tenant=tenant, actor=as_owner, name="blog")
    site_services.env_set(tenant=tenant, actor=as_owner, name="blog", key="API_TOKEN", value="t", sensitive=True)
    dns_services.domain_add(tenant=tenant, actor=as_owner, site="blog", domain="www.blog-of-acme.test")
    conversation = chat_services.conversation_start(scope=ChatScope(tenant=tenant), actor=as_owner)
    billing_services.budget_set(tenant=tenant, actor=as_owner, amount="100")
    billing_services.budget_set(tenant=tenant, actor=as_owner, amount="10", site="blog")
    staff: User = UserFactory.create(is_staff=True)
    return {
        "tenant_obj": tenant,
        "owner": owner,
        "staff": staff,
        "params": {
            "member_id": tenant.memberships.get(user=member).pk,
            "invitation_id": invitation.pk,
            "key_id": other_key.pk,
            "name": "blog",
            "operation_id": operation.pk,
            "key": "API_TOKEN",
            "domain": "www.blog-of-acme.test",
            "conversation_id": conversation.pk,
            "tenant": tenant.slug,
            "slug": tenant.slug,
            "site": "blog",
        },
    }


# Bodies that would succeed, so that a write let through would show in the snapshot. An operation
# not listed here still gets `{}`: the refusal comes before the body is read.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/members/"): {"email": "x@acme.test", "role": "member"},
    ("patch", "/api/v1/members/{member_id}/"): {"role": "admin"},
    ("post", "/api/v1/invitations/"): {"email": "y@acme.test", "role": "member"},
    ("post", "/api/v1/api-keys/"): {"name": "escalate", "scope": "write"},
    ("post", "/api/v1/sites/"): {"name": "shop"},
    ("patch", "/api/v1/sites/{name}/"): {"title": "changed"},
    ("put", "/api/v1/sites/{name}/env/{key}/"): {"value": "changed"},
    ("post", "/api/v1/sites/{name}/domains/"): {"domain": "shop.blog-of-acme.test"},
    ("put", "/api/v1/tenants/{tenant}/budget"): {"amount": "1"},
    ("put", "/api/v1/tenants/{tenant}/budgets/{site}"): {"amount": "1", "action": "suspend"},
    ("post", "/api/v1/chat/messages"): {"text": "delete blog"},
    ("post", "/api/v1/tenants/"): {"slug": "initech", "name": "Initech", "owner_email": "boss@initech.test"},
    ("post", "/api/v1/tenants/{slug}/suspend/"): {"reason": "test"},
}


def _url(path: str, operation: dict[str, Any], params: dict[str, Any]) -> str:
    """The path with each parameter filled: a real object's when the world has one, else a value
    of the right type (a new endpoint with a new parameter is still covered)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in params:
            return str(params[name])
        (declared,) = [p for p in operation.get("parameters", []) if p["in"] == "path" and p["name"] == name]
        return "1" if declared["schema"].get("type") == "integer" else "probe"

    return re.sub(r"{(\w+)}", value, path)


def _served_on(url: str, urlconf: str) -> type[APIView] | None:
    """The DRF view that answers `url` on a host, or None when that host does not serve it."""
    try:
        match = resolve(url, urlconf=urlconf)
    except Resolver404:
        return None
    return getattr(match.func, "cls", None)


def _snapshot(tenant: Tenant) -> dict[str, list[str]]:
    """Every row of every table the tenant can see (its schema, then the public one). Only a key's
    last use may change: a refused request still used the key."""
    rows: dict[str, list[str]] = {}
    with tenant_context(tenant):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema IN (%s, 'public')",
                [tenant.schema_name],
            )
            # Models of apps still being written may have no table yet.
            tables = {name for (name,) in cursor.fetchall()}
        for model in apps.get_models():
            if not model._meta.managed or model._meta.proxy or model._meta.db_table not in tables:
                continue
            fields = [f.attname for f in model._meta.concrete_fields if (model, f.name) != (ApiKey, "last_used_at")]
            rows[model._meta.label] = sorted(
                repr(sorted(row.items())) for row in model._default_manager.values(*fields)
            )
    return rows


def _host_cases(world: dict[str, Any], host: str) -> tuple[str, APIClient, APIClient, list[tuple[str, str, dict]]]:
    """The URLconf, a read and a write client for a host: a tenant's (a tenant admin's keys) or the
    public one (staff keys)."""
    tenant = world["tenant_obj"]
    if host == "tenant":
        urlconf, holder, key_tenant = settings.ROOT_URLCONF, world["owner"], tenant
    else:
        urlconf, holder, key_tenant = settings.PUBLIC_SCHEMA_URLCONF, world["staff"], None
    _, read = _key(key_tenant, holder, ApiKeyScope.READ)
    _, write = _key(key_tenant, holder, ApiKeyScope.WRITE)
    read_client = APIClient(HTTP_HOST=tenant.host if key_tenant else settings.PLATFORM_DOMAIN)
    read_client.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    write_client = APIClient(HTTP_HOST=tenant.host if key_tenant else settings.PLATFORM_DOMAIN)
    write_client.credentials(HTTP_AUTHORIZATION=f"Bearer {write}")
    return urlconf, read_client, write_client, _operations((*WRITE_METHODS, "get"))


@pytest.mark.parametrize("host", ["tenant", "public"])
def test_a_read_key_is_refused_every_write_and_nothing_changes(world: dict[str, Any], host: str) -> None:
    urlconf, read_client, _, operations = _host_cases(world, host)
    tenant = world["tenant_obj"]
    refused: list[str] = []
    wrong: list[str] = []
    before = _snapshot(tenant)
    events = AuditEvent.objects.count()
    for method, path, operation in operations:
        if method == "get":
            continue
        url = _url(path, operation, world["params"])
        view = _served_on(url, urlconf)
        if view is None:
            continue  # not served on this host
        body = BODIES.get((method, path), {})
        response = getattr(read_client, method)(url, body, format="json")
        problem = response.json() if response["Content-Type"] == PROBLEM else {}
        if method.upper() in getattr(view, "read_key_methods", ()):
            # Declared harmless (a plan): a read key is let in, and it must still change nothing.
            if problem.get("type", "").endswith("/read-only-key"):
                wrong.append(f"{method.upper()} {url}: refused though the view declares it harmless")
        elif (
            response.status_code == 403
            and problem.get("type", "").endswith("/read-only-key")
            and "read-only" in problem.get("detail", "")
            and "write scope" in problem.get("detail", "")
        ):
            refused.append(f"{method} {path}")
        else:
            wrong.append(f"{method.upper()} {url}: {response.status_code} {response.content[:200]!r}")
        assert _snapshot(tenant) == before, f"{method.upper()} {url} changed something"
    assert not wrong
    assert AuditEvent.objects.count() == events
    # Sanity: the host really has write operations, and the ones that matter most are among them.
    expected = {"tenant": "post /api/v1/sites/", "public": "post /api/v1/tenants/{slug}/suspend/"}[host]
    assert expected in refused and "post /api/v1/chat/messages" in refused, refused


@pytest.mark.parametrize("host", ["tenant", "public"])
def test_a_read_key_gets_everything_a_write_key_gets(world: dict[str, Any], host: str) -> None:
    urlconf, read_client, write_client, operations = _host_cases(world, host)
    differ: list[str] = []
    answered = 0
    for method, path, operation in operations:
        if method != "get":
            continue
        url = _url(path, operation, world["params"])
        if _served_on(url, urlconf) is None:
            continue
        with_read, with_write = read_client.get(url), write_client.get(url)
        # The same answer, whatever it is (a staff key finds no conversation of the tenant's owner).
        if with_read.status_code != with_write.status_code:
            differ.append(f"GET {url}: read {with_read.status_code}, write {with_write.status_code}")
        answered += with_read.status_code == 200
    assert not differ
    assert answered >= 3


def test_a_read_key_may_use_methods_a_view_declares_harmless(tenant: Tenant, owner: User) -> None:
    """`read_key_methods` lets a POST that changes nothing (a plan, a dry run) accept read keys."""

    class PlanApi(APIView):
        permission_classes = [IsAuthenticated]
        read_key_methods: tuple[str, ...] = ("POST",)

        def post(self, request: Request) -> Response:
            return Response({"planned": True})

    class ApplyApi(PlanApi):
        read_key_methods = ()

    read, _ = _key(tenant, owner, ApiKeyScope.READ)
    factory = APIRequestFactory()

    def call(view: type[APIView]) -> Response:
        request = factory.post("/api/v1/plan", {}, format="json")
        # What TenantResolutionMiddleware puts on Django's request in production.
        request.api_key = ApiKey.objects.get(pk=read.pk)  # type: ignore[attr-defined]  # see above
        request.tenant = tenant  # type: ignore[attr-defined]  # see above
        return view.as_view()(request)

    assert call(PlanApi).status_code == 200
    refused = call(ApplyApi)
    assert refused.status_code == 403
    assert "read-only" in str(refused.data)


def test_write_services_refuse_a_read_key_actor_and_reads_still_work(tenant: Tenant, owner: User) -> None:
    from billing.roles import require_cost_reader
    from sites import services as site_services

    read, _ = _key(tenant, owner, ApiKeyScope.READ)
    actor = Actor.of_key(read)
    assert isinstance(SITE_WRITERS, WriterRoles)
    with pytest.raises(NotPermitted, match="read-only"):
        site_services.site_request(tenant=tenant, actor=actor, name="sneaky")
    with pytest.raises(NotPermitted, match="read-only"):
        services.api_key_create(actor=actor, tenant=tenant, name="escalate")
    staff: User = UserFactory.create(is_staff=True)
    staff_read, _ = _key(None, staff, ApiKeyScope.READ)
    with pytest.raises(NotPermitted, match="read-only"):
        services.api_key_create(actor=Actor.of_key(staff_read), tenant=None, name="escalate")
    require_cost_reader(actor, tenant)  # a read set: allowed
    write, _ = _key(tenant, owner, ApiKeyScope.WRITE)
    site_services.site_request(tenant=tenant, actor=Actor.of_key(write), name="allowed")
