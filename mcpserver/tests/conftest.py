"""The MCP server driven by the SDK's own client, over both transports: `manage.py mcp` spawned as a
subprocess on this run's test database (stdio), and the real ASGI application under uvicorn on a
loopback port (streamable HTTP). Sites run on the in-memory runtime and the test is the worker
(sites.tests.memory_worker): the subject here is the door, not the pipeline."""

import asyncio
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import httpx2
import pytest
import redis
import uvicorn
from django.conf import settings
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from conftest import RUN_ID, database_url_of_this_run
from kernel.testing import wait_until
from sites.tests.memory_worker import memory_sites, work  # noqa: F401 - fixtures and helpers of these tests
from tenants import services
from tenants.audit import Actor
from tenants.models import ApiKeyScope, Role, Tenant, User
from tenants.tests.factories import UserFactory

T = TypeVar("T")
Connect = Callable[..., AbstractAsyncContextManager[Client]]

# Tasks the stdio server queues (a deletion's kick) go to a queue of their own that no worker of
# this run consumes: the test is the worker.
STDIO_QUEUE = f"aipress-test-{RUN_ID}-mcp-stdio"


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Drive a client scenario from a (synchronous, database-using) test."""
    return asyncio.run(scenario())


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Database work of a test in the middle of a scenario (never on the event loop's thread)."""
    return await asyncio.to_thread(function, *args)


@pytest.fixture
def acme(make_tenant: Callable[..., Tenant], request: pytest.FixtureRequest) -> Tenant:
    request.getfixturevalue("memory_sites")  # its sites run on the in-memory runtime
    return make_tenant(slug="acme")


@pytest.fixture
def globex(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant(slug="globex")


def owner_of(tenant: Tenant) -> User:
    return tenant.memberships.get(role=Role.OWNER).user


@pytest.fixture
def key_for() -> Callable[..., str]:
    """A raw API key of a tenant (made by its owner), or a staff key (tenant None)."""

    def make(tenant: Tenant | None, *, scope: str = ApiKeyScope.WRITE, role: str = Role.ADMIN) -> str:
        if tenant is None:
            staff = UserFactory.create(is_staff=True)
            _, raw = services.api_key_create(actor=Actor.of_user(staff), tenant=None, name="staff", scope=scope)
            return raw
        _, raw = services.api_key_create(
            actor=Actor.of_user(owner_of(tenant)), tenant=tenant, name=f"mcp-{scope}", role=role, scope=scope
        )
        return raw

    return make


@pytest.fixture
def mcp_http() -> Iterator[str]:
    """The platform's ASGI application (Django, and `/mcp` in front of it) under uvicorn, on a free
    loopback port; yields its base URL. Hosts are chosen per request with the Host header."""
    from aipress.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def host_for(tenant: Tenant | None) -> str:
    return tenant.host if tenant is not None else settings.PLATFORM_DOMAIN


@pytest.fixture
def http_client(mcp_http: str) -> Connect:
    """An SDK client over streamable HTTP, with a Bearer key, on a tenant's host (or the public one)."""

    @asynccontextmanager
    async def connect(key: str, host: str, **options: Any) -> AsyncIterator[Client]:
        port = mcp_http.rsplit(":", 1)[1]
        headers = {"Authorization": f"Bearer {key}", "Host": f"{host}:{port}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            Client(streamable_http_client(f"{mcp_http}/mcp", http_client=http), **options) as client,
        ):
            yield client

    return connect


def stdio_environment(key: str) -> dict[str, str]:
    """`manage.py mcp` configured like this test run: its database, its Redis prefixes, the memory runtime."""
    environment = {
        "DATABASE_URL": database_url_of_this_run(),
        "DATABASE_POOL": "0",
        "CELERY_QUEUE": STDIO_QUEUE,
        "CACHE_KEY_PREFIX": f"aipress-test-{RUN_ID}",
        "CHANNELS_PREFIX": f"aipress-test-{RUN_ID}",
        "SITES_RUNTIME": "memory",
        "ASSISTANT": "local",
        "SITES_KEY_PREFIX": settings.SITES_KEY_PREFIX,
        "LOG_LEVEL": "WARNING",
        "AIPRESS_API_KEY": key,
    }
    # The variables the platform's settings read (var/env is read too, without overriding these).
    for name in ("PATH", "HOME", "REDIS_URL", "DJANGO_SECRET_KEY", "SITES_SECRET_KEYS", "PLATFORM_DOMAIN"):
        if name in os.environ:
            environment[name] = os.environ[name]
    return environment


@pytest.fixture
def stdio_client() -> Iterator[Connect]:
    """An SDK client over stdio: `python manage.py mcp` spawned with the key in AIPRESS_API_KEY."""

    @asynccontextmanager
    async def connect(key: str, host: str | None = None, **options: Any) -> AsyncIterator[Client]:
        parameters = StdioServerParameters(
            command=sys.executable, args=["manage.py", "mcp"], env=stdio_environment(key), cwd=str(settings.BASE_DIR)
        )
        async with Client(parameters, **options) as client:
            yield client

    yield connect
    redis.Redis.from_url(settings.REDIS_URL).delete(STDIO_QUEUE)


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest) -> Connect:
    """The same scenario over each transport."""
    fixture: Connect = request.getfixturevalue(f"{request.param}_client")
    return fixture


__all__ = ["in_thread", "run", "work"]
