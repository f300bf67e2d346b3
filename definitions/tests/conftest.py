"""Definitions are applied for real: tenants are cloned by a real Celery worker and sites run on the
in-memory runtime (the local runtime's own tests prove the runtime; these prove the definitions)."""

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from sites import services as site_services
from sites.runtimes import memory
from sites.tests.memory_worker import memory_sites  # noqa: F401 - a fixture of these tests
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.schema import drop_tenant_schema


@pytest.fixture
def in_memory(settings: Any) -> Iterator[None]:
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    yield
    memory.reset()


@pytest.fixture
def drop_created_schemas() -> Iterator[None]:
    yield
    if connection.in_atomic_block:
        return
    for schema in Tenant.objects.values_list("schema_name", flat=True):
        drop_tenant_schema(schema)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def definition(
    name: str,
    *,
    owners: tuple[str, ...] = ("ops@example.com",),
    sites: str = "",
    extra_spec: str = "",
    display: str = "",
) -> str:
    display_line = f'  displayName: "{display}"\n' if display else ""
    sites_block = f"  sites:\n{sites}" if sites else ""
    return (
        "apiVersion: aipress.io/v1alpha1\n"
        "kind: Tenant\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"{display_line}"
        "spec:\n"
        f"  owners: [{', '.join(owners)}]\n"
        f"{extra_spec}"
        f"{sites_block}"
    )


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def put(filename: str, text: str) -> Path:
        path = tmp_path / "tenants" / filename
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    return put


def store_secret(tenant: Tenant, name: str, value: str) -> None:
    site_services.tenant_secret_set(tenant=tenant, actor=Actor.system("tests"), name=name, value=value)
