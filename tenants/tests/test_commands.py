"""The command line, as scripts use it: output, exit status, and one-line errors."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import database_url_of_this_run
from tenants.models import ApiKey, Tenant, TenantStatus, User
from tenants.schema import drop_tenant_schema

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def drop_created_schemas():
    yield
    for schema in Tenant.objects.values_list("schema_name", flat=True):
        drop_tenant_schema(schema)


def run(*args):
    out = io.StringIO()
    err = io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_demo_is_idempotent_and_its_key_works(drop_created_schemas, client):
    first, _ = run("demo")
    second, _ = run("demo")
    assert Tenant.objects.filter(slug="acme", status=TenantStatus.ACTIVE).count() == 1
    assert User.objects.filter(is_staff=True).count() == 1
    assert ApiKey.objects.filter(tenant__slug="acme", name="demo", revoked_at=None).count() == 1
    key = next(line.split()[-1] for line in second.splitlines() if "API key for acme" in line)
    assert key not in first
    response = client.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.json()["slug"] == "acme"


def test_tenant_create_waits_until_active_then_list_suspend_resume(drop_created_schemas, celery_worker_thread):
    out, _ = run("tenant", "create", "initech", "--owner", "boss@initech.test", "--name", "Initech", "--timeout", "30")
    assert "initech active" in out
    assert Tenant.objects.get(slug="initech").status == TenantStatus.ACTIVE
    listing, _ = run("tenant", "list")
    assert any(line.split()[:3] == ["initech", "active", "1"] for line in listing.splitlines())
    run("tenant", "suspend", "initech", "--reason", "fraud check")
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.status, tenant.suspended_reason) == ("suspended", "fraud check")
    run("tenant", "resume", "initech")
    assert Tenant.objects.get(slug="initech").status == "active"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "create", "Bad Slug", "--owner", "a@example.com", "--no-wait"], "lowercase letters"),
        (["tenant", "create", "admin", "--owner", "a@example.com", "--no-wait"], "reserved"),
        (["tenant", "create", "okay", "--owner", "not-an-email", "--no-wait"], "valid email"),
        (["tenant", "suspend", "ghost", "--reason", "x"], "No tenant “ghost”"),
        (["tenant", "resume", "ghost"], "No tenant “ghost”"),
        (["apikey", "create", "--tenant", "ghost", "--name", "x"], "No tenant “ghost”"),
        (["tenant", "delete", "ghost", "--confirm", "ghost"], "No tenant “ghost”"),
    ],
)
def test_bad_input_is_one_clear_error_and_changes_nothing(args, message):
    with pytest.raises(CommandError, match=message) as info:
        run(*args)
    assert "\n" not in str(info.value)
    assert not Tenant.objects.exists()


def test_apikey_create_prints_the_key_alone_on_the_last_line(make_tenant, client):
    make_tenant(slug="acme")
    out, err = run("apikey", "create", "--tenant", "acme", "--name", "ci")
    key = out.strip().splitlines()[-1]
    assert key.startswith("aip_") and " " not in key
    assert "not shown again" in err
    assert client.get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {key}").json()["slug"] == "acme"


def test_cli_error_exits_non_zero_with_one_line():
    # Through the real entry point, as a script would call it, against this run's test database.
    url = database_url_of_this_run()
    result = subprocess.run(
        [sys.executable, "manage.py", "tenant", "suspend", "ghost", "--reason", "x"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": url},
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: No tenant “ghost”; see `manage.py tenant list`."]


def test_tenant_delete_needs_the_slug_typed_again(make_tenant):
    tenant = make_tenant(slug="acme")
    with pytest.raises(CommandError, match="Type the organisation's address, acme, to confirm"):
        run("tenant", "delete", "acme", "--confirm", "acm")
    assert Tenant.objects.get(pk=tenant.pk).status == "active"
