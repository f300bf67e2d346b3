"""Fixtures for every test: real PostgreSQL (schemas per tenant), real Redis, a real Celery worker."""

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from kernel.testing import wait_until
from tenants import services
from tenants.audit import Actor
from tenants.models import Role, Tenant, User
from tenants.schema import drop_tenant_schema, ensure_template_schema, use_public_schema
from tenants.tests.factories import TenantFactory, UserFactory

RUN_ID = uuid.uuid4().hex[:8]
# Sites of this run live here; 0755 so nginx (www-data) and each site's user can reach their folders
# (pytest's own tmp folders are 0700).
SITES_TMP = Path(f"/tmp/aipress-test-{RUN_ID}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_of_this_run() -> str:
    """This run's test database as a URL, for the real processes some tests start: the platform's own
    DATABASE_URL (TCP, or an embedded server's socket) with the test database's name."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path=f"/{connection.settings_dict['NAME']}"))


def pytest_configure() -> None:
    # Keep this run's Redis keys, channel groups and Celery queue apart from `make run` and other runs.
    cache: dict[str, Any] = dict(settings.CACHES["default"])
    settings.CACHES = {**settings.CACHES, "default": {**cache, "KEY_PREFIX": f"aipress-test-{RUN_ID}"}}
    layer: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**dict(layer["CONFIG"]), "prefix": f"aipress-test-{RUN_ID}"}
    settings.CHANNEL_LAYERS = {"default": layer}
    settings.CELERY_TASK_DEFAULT_QUEUE = f"aipress-test-{RUN_ID}"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITES_KEY_PREFIX = f"x{RUN_ID}_"
    SITES_TMP.mkdir(mode=0o755)
    os.chmod(SITES_TMP, 0o755)
    settings.SITES_ROOT = SITES_TMP / "sites"
    settings.SITES_RUNTIME_DIR = SITES_TMP / "runtime"
    settings.SITES_PORT = _free_port()
    # This run's own authoritative DNS server (the dns_server fixture), which verification asks.
    settings.DNS_SERVER_PORT = _free_port()
    settings.DNS_RESOLVERS = [f"127.0.0.1:{settings.DNS_SERVER_PORT}"]

    # This process plays every process of the platform at once (web under uvicorn, a worker, the DNS
    # server, the test itself), each a thread holding a connection while it works: the pool of one
    # production process (8) is too small for all of them together.
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["max_size"] = max(int(pool.get("max_size", 8)), 24)

    # Two runs at once on one server (an engineer and a helper): AIPRESS_TEST_DB_SUFFIX gives this run
    # a test database of its own instead of colliding on test_aipress.
    suffix = os.environ.get("AIPRESS_TEST_DB_SUFFIX", "")
    if suffix.isidentifier():
        from django.db import connections

        connections["default"].settings_dict.setdefault("TEST", {})["NAME"] = f"test_aipress_{suffix.lower()}"

    # Fast hashing for test users; production keeps PBKDF2 from settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_unconfigure() -> None:
    shutil.rmtree(SITES_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """After pytest-django migrated the public schema: the tenant template schema, as in production."""
    with django_db_blocker.unblock():
        ensure_template_schema()
    yield
    # Server and worker threads keep their own connections; end them so the test database can be dropped.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _public_schema_between_tests() -> Iterator[None]:
    yield
    use_public_schema()


@pytest.fixture(autouse=True)
def _fresh_channel_layer_per_test() -> Iterator[None]:
    """Each test's event loops get a channel layer of their own. A consumer a test left running in
    its loop keeps receiving on the layer it started with, and channels_redis refuses a second loop
    receiving on the same layer ("Two event loops are trying to receive()")."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture
def make_tenant(db: None) -> Iterator[Callable[..., Tenant]]:
    """Create an active tenant the way production does (service + clone), synchronously."""
    created: list[str] = []

    def make(slug: str | None = None, owner: User | None = None, name: str = "") -> Tenant:
        slug = slug or f"t{uuid.uuid4().hex[:10]}"
        tenant = TenantFactory.create(slug=slug, name=name or slug.title(), owner=owner or UserFactory.create())
        created.append(tenant.schema_name)
        return tenant

    yield make
    use_public_schema()
    if connection.in_atomic_block:
        return  # the test's transaction is rolled back, schemas and all
    for schema in created:
        drop_tenant_schema(schema)


@pytest.fixture
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant(slug="acme")


@pytest.fixture
def owner(tenant: Tenant) -> User:
    return tenant.memberships.get(role=Role.OWNER).user


def host_of(tenant: Tenant | None) -> str:
    return tenant.host if tenant is not None else settings.PLATFORM_DOMAIN


@pytest.fixture
def client_for() -> Callable[..., APIClient]:
    """An API client for a host, signed in as a user (session) or carrying an API key."""

    def make(tenant: Tenant | None = None, *, user: User | None = None, key: str | None = None) -> APIClient:
        client = APIClient(HTTP_HOST=host_of(tenant))
        if user is not None:
            client.force_login(user)
        if key is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def api_key_for() -> Callable[..., str]:
    def make(tenant: Tenant, role: str = Role.ADMIN) -> str:
        owner = tenant.memberships.get(role=Role.OWNER).user
        _, raw = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name=f"key-{role}", role=role)
        return raw

    return make


@pytest.fixture
def add_member() -> Callable[..., User]:
    def add(tenant: Tenant, role: str = Role.MEMBER, user: User | None = None) -> User:
        member = user or UserFactory.create()
        tenant.memberships.create(user=member, role=role)
        return member

    return add


@pytest.fixture(scope="session")
def celery_worker_thread(django_db_setup: None, django_db_blocker: Any) -> Iterator[object]:
    """A real Celery worker, consuming this run's queue on the real Redis broker, in a thread."""
    from celery.contrib.testing.worker import start_worker

    from aipress.celery import app

    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with (
        django_db_blocker.unblock(),
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
        ) as worker,
    ):
        yield worker


@pytest.fixture(scope="session")
def dns_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The platform's authoritative DNS server (what `make run` starts), for this run, in threads: it
    answers from the test database over real UDP and TCP. Yields its host:port."""
    from dns.server import running

    with django_db_blocker.unblock(), running("127.0.0.1", settings.DNS_SERVER_PORT):
        yield f"127.0.0.1:{settings.DNS_SERVER_PORT}"


@pytest.fixture(scope="session")
def site_daemons() -> Iterator[None]:
    """The local runtime's nginx and php-fpm masters, as the Procfile runs them, for this test run."""
    from sites.runtimes.local import sandbox, server

    processes = server.start_daemons()

    def started() -> bool:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"nginx or php-fpm exited at start; see {server.logs_dir()}")
        return all(server.daemons_running().values())

    wait_until(started, timeout=15, what="nginx and php-fpm to start")
    yield
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=15)
    sandbox.firewall_uninstall()


@pytest.fixture
def platform(settings: Any) -> Iterator[str]:
    """The real ASGI application (HTTP, websockets, WhiteNoise) under uvicorn, on a free port."""
    import socket
    import threading

    import uvicorn
    from django.core.management import call_command

    from aipress.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.PLATFORM_PORT = str(port)
    settings.PLATFORM_SCHEME = "http"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.CSRF_TRUSTED_ORIGINS = [
        f"http://{settings.PLATFORM_DOMAIN}:{port}",
        f"http://*.{settings.PLATFORM_DOMAIN}:{port}",
    ]
    # Under a lock: the two xdist workers share STATIC_ROOT, and two collectstatic runs at once
    # write and compress the same files under each other.
    import fcntl

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    with open(Path(settings.STATIC_ROOT).parent / ".collectstatic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("collectstatic", interactive=False, verbosity=0)
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10, what="uvicorn to start")
    yield f"http://{settings.PLATFORM_DOMAIN}:{port}"
    server.should_exit = True
    thread.join(timeout=10)
