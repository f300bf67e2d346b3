"""Two tenants, A and B. Everything A can call, called on B's objects, answers 404 and changes nothing."""

import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import URLPattern
from django_tenants.utils import tenant_context

from aipress.asgi import application
from billing.models import Budget
from billing.urls_api import billing_api_urlpatterns
from chat.models import Message
from chat.urls_api import chat_api_urlpatterns
from definitions.models import Application
from definitions.urls_api import tenant_definition_urlpatterns
from kernel.testing import wait_until
from sites.models import Site, SiteEnvVar, SiteOperation, TenantSecret
from sites.urls_api import site_api_urlpatterns
from tenants.events import publish_tenant_event
from tenants.models import ApiKey, Invitation, Membership, Role, Tenant
from tenants.tasks import send_in_tenant
from tenants.tests.probe_tasks import record_schema
from tenants.urls_api import tenant_api_urlpatterns


@pytest.fixture
def two_tenants(make_tenant, add_member, api_key_for, django_capture_on_commit_callbacks):
    from tenants import services
    from tenants.audit import Actor

    a = make_tenant(slug="alpha")
    b = make_tenant(slug="bravo")
    b_owner = b.memberships.get(role=Role.OWNER).user
    b_member = add_member(b, Role.MEMBER)
    services.invitation_create(actor=Actor.of_user(b_owner), tenant=b, email="pending@bravo.test", role="member")
    b_key = api_key_for(b)
    from sites import services as site_services

    _, b_operation, _ = site_services.site_request(tenant=b, actor=Actor.of_user(b_owner), name="bravo-blog")
    site_services.env_set(
        tenant=b, actor=Actor.of_user(b_owner), name="bravo-blog", key="STRIPE_KEY", value="sk", sensitive=True
    )
    site_services.tenant_secret_set(tenant=b, actor=Actor.of_user(b_owner), name="bravo-stripe", value="whsec")
    site_services.env_link_secret(
        tenant=b, actor=Actor.of_user(b_owner), name="bravo-blog", key="PAYMENTS", secret="bravo-stripe"
    )
    from chat import services as chat_services
    from chat.messages import ChatScope

    b_conversation = chat_services.conversation_start(scope=ChatScope(tenant=b), actor=Actor.of_user(b_owner))
    from billing import services as billing_services

    billing_services.budget_set(tenant=b, actor=Actor.of_user(b_owner), amount="100")
    billing_services.budget_set(tenant=b, actor=Actor.of_user(b_owner), amount="10", site="bravo-blog")
    b_application = Application.objects.create(tenant=b, tenant_slug=b.slug, document={}, requested_by_label="ci")
    return {
        "a": a,
        "b": b,
        "a_owner": a.memberships.get(role=Role.OWNER).user,
        "a_key": api_key_for(a),
        "b_ids": {
            "member_id": Membership.objects.get(tenant=b, user=b_member).pk,
            "invitation_id": Invitation.objects.get(tenant=b).pk,
            "key_id": ApiKey.objects.get(tenant=b, prefix=b_key.rsplit("_", 1)[0]).pk,
            "name": "bravo-blog",
            "key": "STRIPE_KEY",
            "operation_id": b_operation.pk,
            "conversation_id": b_conversation.pk,
            "tenant": b.slug,
            "site": "bravo-blog",
            "secret": "bravo-stripe",
            "application_id": b_application.pk,
        },
    }


# Every tenant API operation on an object, with a body that would succeed on A's own object.
OBJECT_CALLS = [
    ("get", "members/{member_id}/", None),
    ("patch", "members/{member_id}/", {"role": "admin"}),
    ("delete", "members/{member_id}/", None),
    ("delete", "invitations/{invitation_id}/", None),
    ("delete", "api-keys/{key_id}/", None),
    ("get", "sites/{name}/", None),
    ("patch", "sites/{name}/", {"title": "stolen"}),
    ("delete", "sites/{name}/", None),
    ("post", "sites/{name}/suspend/", None),
    ("post", "sites/{name}/resume/", None),
    ("post", "sites/{name}/retry/", None),
    ("post", "sites/{name}/cache/purge", {"reason": "stolen"}),
    ("get", "sites/{name}/events/", None),
    ("get", "sites/{name}/operations/", None),
    ("get", "sites/{name}/operations/{operation_id}/", None),
    ("get", "sites/{name}/env/", None),
    ("get", "sites/{name}/env/{key}/", None),
    ("put", "sites/{name}/env/{key}/", {"value": "x"}),
    ("delete", "sites/{name}/env/{key}/", None),
    # A's link naming B's secret, on A's own site name: neither exists for A.
    ("put", "sites/{name}/env/{key}/", {"from_secret": "{secret}"}),
    # (A PUT of a secret's name makes the caller's own secret: tests/test_api_tenant_secrets.py.)
    ("delete", "secrets/{secret}/", None),
    ("get", "chat/conversations/{conversation_id}/", None),
    ("get", "tenants/{tenant}/billing", None),
    ("get", "tenants/{tenant}/budgets/", None),
    ("put", "tenants/{tenant}/budget", {"amount": "1"}),
    ("delete", "tenants/{tenant}/budget", None),
    ("put", "tenants/{tenant}/budgets/{site}", {"amount": "1", "action": "suspend"}),
    ("delete", "tenants/{tenant}/budgets/{site}", None),
    # Tenants as code: B's definition is neither read, planned, applied nor deleted by A.
    ("get", "tenants/{tenant}/", None),
    ("put", "tenants/{tenant}/", {"apiVersion": "aipress.io/v1alpha1", "kind": "Tenant"}),
    ("delete", "tenants/{tenant}/", None),
    ("post", "tenants/{tenant}/plan/", {"apiVersion": "aipress.io/v1alpha1", "kind": "Tenant"}),
    ("get", "tenants/{tenant}/applications/{application_id}/", None),
]


def _snapshot(tenant):
    with tenant_context(tenant):
        sites = sorted(Site.objects.values_list("slug", "status"))
        sites += sorted(SiteEnvVar.objects.values_list("name", "reference", "from_secret"))
        sites += sorted(TenantSecret.objects.values_list("name", "reference", "updated_at"))
        sites += sorted(SiteOperation.objects.values_list("pk", "kind", "state"))
        sites += sorted(Message.objects.values_list("pk", "seq"))
    return (
        sites,
        sorted(Membership.objects.filter(tenant=tenant).values_list("pk", "role")),
        sorted(Invitation.objects.filter(tenant=tenant).values_list("pk", "revoked_at")),
        sorted(ApiKey.objects.filter(tenant=tenant).values_list("pk", "revoked_at")),
        sorted(Budget.objects.filter(tenant=tenant).values_list("site_slug", "amount", "action")),
        sorted(Tenant.objects.filter(pk=tenant.pk).values_list("name", "status")),
    )


def test_every_object_route_is_covered():
    routes = {
        str(p.pattern)
        for p in tenant_api_urlpatterns
        + site_api_urlpatterns
        + chat_api_urlpatterns
        + billing_api_urlpatterns
        + tenant_definition_urlpatterns
        if isinstance(p, URLPattern) and "<" in str(p.pattern)
    }
    covered = {
        path.replace("{name}", "<slug:name>")
        .replace("{tenant}", "<slug:tenant>")
        .replace("{site}", "<slug:site>")
        .replace("{key}", "<str:key>")
        .replace("{secret}", "<slug:name>")
        .replace("{", "<int:")
        .replace("}", ">")
        for _, path, _ in OBJECT_CALLS
    }
    assert routes == covered, "a new object endpoint needs an isolation case in OBJECT_CALLS"


@pytest.mark.django_db
@pytest.mark.parametrize("credential", ["session", "api_key"])
@pytest.mark.parametrize(("method", "path", "body"), OBJECT_CALLS)
def test_tenant_a_cannot_touch_b_objects(two_tenants, client_for, credential, method, path, body):
    t = two_tenants
    before = _snapshot(t["b"])
    if credential == "session":
        client = client_for(t["a"], user=t["a_owner"])
    else:
        client = client_for(t["b"], key=t["a_key"])  # A's key sent to B's host still acts in A
    url = "/api/v1/" + path.format(**t["b_ids"])
    if body:
        body = {field: str(value).format(**t["b_ids"]) for field, value in body.items()}
    response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert _snapshot(t["b"]) == before


@pytest.mark.django_db
@pytest.mark.parametrize("credential", ["session", "api_key"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("chat/messages", {"conversation": "{conversation_id}", "text": "delete bravo-blog"}),
        ("chat/confirm", {"conversation": "{conversation_id}", "action_id": "x"}),
        ("chat/cancel", {"conversation": "{conversation_id}", "action_id": "x"}),
    ],
)
def test_a_cannot_post_into_b_conversations(two_tenants, client_for, credential, path, body):
    t = two_tenants
    before = _snapshot(t["b"])
    client = client_for(t["a"], user=t["a_owner"]) if credential == "session" else client_for(t["b"], key=t["a_key"])
    sent = {key: int(value.format(**t["b_ids"])) if key == "conversation" else value for key, value in body.items()}
    response = client.post("/api/v1/" + path, sent, format="json")
    assert response.status_code == 404, response.content
    assert _snapshot(t["b"]) == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["tenant/", "members/", "invitations/", "api-keys/", "sites/", "secrets/"])
def test_a_member_on_b_host_gets_404_and_b_lists_stay_private(two_tenants, client_for, path):
    t = two_tenants
    before = _snapshot(t["b"])
    client = client_for(t["b"], user=t["a_owner"])
    assert client.get(f"/api/v1/{path}").status_code == 404
    if path != "tenant/":
        assert client.post(f"/api/v1/{path}", {"email": "x@example.com", "name": "x"}, format="json").status_code == 404
    # A's own lists never show B's objects.
    own = client_for(t["a"], key=t["a_key"]).get(f"/api/v1/{path}").content.decode()
    assert "bravo" not in own
    assert "pending@bravo.test" not in own
    assert _snapshot(t["b"]) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/team/", "/api-keys/", "/settings/", "/sites/", "/sites/bravo-blog/", "/secrets/"]
)
def test_portal_pages_of_b_are_404_for_a(two_tenants, client_for, path):
    response = client_for(two_tenants["b"], user=two_tenants["a_owner"]).get(path)
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/team/members/{member_id}/role/"),
        ("post", "/team/members/{member_id}/remove/"),
        ("post", "/team/invitations/{invitation_id}/revoke/"),
        ("post", "/api-keys/{key_id}/revoke/"),
        ("post", "/sites/{name}/env/"),
        ("post", "/sites/{name}/env/{key}/delete/"),
        ("post", "/sites/{name}/suspend/"),
        ("post", "/sites/{name}/retry/"),
        ("post", "/sites/{name}/purge-cache/"),
        ("post", "/sites/{name}/delete/"),
        ("post", "/secrets/{secret}/delete/"),
    ],
)
def test_portal_actions_on_b_objects_from_a_host_are_404(two_tenants, client_for, method, path):
    t = two_tenants
    before = _snapshot(t["b"])
    response = client_for(t["a"], user=t["a_owner"]).post(path.format(**t["b_ids"]), {"role": "admin"})
    assert response.status_code == 404
    assert _snapshot(t["b"]) == before


# --- Websockets ------------------------------------------------------------------------------


def _session_cookie(client_for, tenant, user):
    client = client_for(tenant, user=user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _open(host, cookie=None, origin=None):
    headers = [(b"host", host.encode()), (b"origin", (origin or f"http://{host}").encode())]
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _refusal_code(host, cookie=None, origin=None):
    """Refusals accept the socket, then close it with a code the client can act on."""
    communicator, connected, _ = await _open(host, cookie, origin)
    assert connected
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return message["code"]


@pytest.mark.django_db(transaction=True)
def test_websocket_of_a_never_receives_b_events(make_tenant, client_for):
    a, b = make_tenant(slug="alpha"), make_tenant(slug="bravo")
    a_cookie = _session_cookie(client_for, a, a.memberships.get().user)
    b_cookie = _session_cookie(client_for, b, b.memberships.get().user)

    async def scenario():
        a_socket, a_ok, _ = await _open(a.host, a_cookie)
        b_socket, b_ok, _ = await _open(b.host, b_cookie)
        assert a_ok and b_ok
        assert (await a_socket.receive_json_from())["payload"]["slug"] == "alpha"  # current state first
        assert (await b_socket.receive_json_from())["payload"]["slug"] == "bravo"
        await database_publish(b.pk, "site.progress", {"secret": "bravo-only"})
        assert (await b_socket.receive_json_from(timeout=5))["payload"] == {"secret": "bravo-only"}
        assert await a_socket.receive_nothing(timeout=0.5)
        await a_socket.disconnect()
        await b_socket.disconnect()

    async_to_sync(scenario)()


async def database_publish(tenant_id, event, payload):
    from channels.db import database_sync_to_async

    await database_sync_to_async(publish_tenant_event)(tenant_id, event, payload)


@pytest.mark.django_db(transaction=True)
def test_websocket_refused_for_other_tenant_session_and_for_no_session(make_tenant, client_for):
    a, b = make_tenant(slug="alpha"), make_tenant(slug="bravo")
    a_cookie = _session_cookie(client_for, a, a.memberships.get().user)

    async def scenario():
        assert await _refusal_code(b.host, a_cookie) == 4404
        assert await _refusal_code(b.host) == 4401
        assert await _refusal_code(settings.PLATFORM_DOMAIN, a_cookie) == 4404
        assert await _refusal_code(a.host, a_cookie, origin="https://evil.example") == 4403

    async_to_sync(scenario)()


# --- Celery ----------------------------------------------------------------------------------


def _wait_for(key, timeout=15.0):
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return wait_until(lambda: client.get(key), timeout=timeout, what="the worker to run the task")


@pytest.mark.django_db(transaction=True)
def test_celery_task_sent_for_a_runs_in_a_even_when_sent_from_b(make_tenant, celery_worker_thread):
    a, b = make_tenant(slug="alpha"), make_tenant(slug="bravo")
    token = uuid.uuid4().hex
    with tenant_context(b):  # the ambient schema is B's: the explicit tenant must win
        send_in_tenant(record_schema, a, token)
    assert _wait_for(f"aipress-test:probe:{token}") == a.schema_name
    token_b = uuid.uuid4().hex
    send_in_tenant(record_schema, b, token_b)
    assert _wait_for(f"aipress-test:probe:{token_b}") == b.schema_name


@pytest.mark.django_db(transaction=True)
def test_websocket_refusals_reach_a_real_client_as_close_codes(make_tenant, client_for, platform):
    """Over the wire, through uvicorn: a client sees the close code, not an HTTP 403 handshake."""
    import asyncio
    import json
    from urllib.parse import urlsplit

    import websockets

    a, b = make_tenant(slug="alpha"), make_tenant(slug="bravo")
    a_cookie = _session_cookie(client_for, a, a.memberships.get().user)
    port = urlsplit(platform).port

    async def close_code(host, cookie=None, origin=None):
        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"} if cookie else {}
        async with websockets.connect(
            f"ws://{host}:{port}/ws/events/",
            additional_headers=headers,
            origin=origin or f"http://{host}:{port}",
            host="127.0.0.1",  # where to connect; the URL's host goes in the Host header
        ) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), timeout=5)
        return closed.value.rcvd.code

    async def own_first_event():
        async with websockets.connect(
            f"ws://{a.host}:{port}/ws/events/",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={a_cookie}"},
            origin=f"http://{a.host}:{port}",
            host="127.0.0.1",
        ) as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), timeout=5))

    async def scenario():
        assert (await own_first_event())["payload"]["slug"] == "alpha"  # the member's own socket works
        assert await close_code(b.host, a_cookie) == 4404
        assert await close_code(b.host) == 4401
        assert await close_code(a.host, a_cookie, origin="https://evil.example") == 4403

    asyncio.run(scenario())
