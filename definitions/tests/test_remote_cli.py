"""The `aipress` command as a CI runner uses it: a separate process that knows only the control
plane's address and an API key, against the real ASGI app on a real socket."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django_tenants.utils import tenant_context

from definitions.tests.conftest import definition
from sites.models import Site, SiteStatus
from tenants import services
from tenants.audit import Actor
from tenants.models import Role, Tenant, TenantStatus
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def aipress(url, key, *args, stdin=""):
    environment = {**os.environ, "AIPRESS_URL": url, "AIPRESS_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "aipress_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
        check=False,
    )


@pytest.fixture
def url(platform):
    # *.localhost does not resolve for every resolver; the key says which tenant a request is for.
    return platform.replace("aipress.localhost", "127.0.0.1")


def test_staff_pipeline_plans_applies_prunes_and_converges(
    url, tmp_path, in_memory, drop_created_schemas, celery_worker_thread
):
    _, key = services.api_key_create(actor=Actor.of_user(UserFactory(is_staff=True)), tenant=None, name="ci")
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "acme.yaml").write_text(definition("acme", owners=("ops@acme.example",), sites="    - name: blog\n"))
    (folder / "globex.yaml").write_text(definition("globex", owners=("it@globex.example",)))

    planned = aipress(url, key, "plan", "-f", str(folder), "--exit-code")
    assert planned.returncode == 2, planned.stderr
    assert "+ tenant acme: a new organisation" in planned.stdout
    assert not Tenant.objects.exists()

    applied = aipress(url, key, "apply", "-f", str(folder), "--timeout", "120")
    assert applied.returncode == 0, applied.stderr
    assert "acme/blog create: succeeded" in applied.stdout
    acme = Tenant.objects.get(slug="acme")
    assert acme.status == TenantStatus.ACTIVE
    with tenant_context(acme):
        assert Site.objects.get(slug="blog").status == SiteStatus.READY

    again = aipress(url, key, "plan", "-f", str(folder), "--exit-code")
    assert (again.returncode, again.stdout.splitlines()) == (0, ["acme: no changes", "globex: no changes"])

    # A bad file anywhere: every problem with its line, and nothing applied.
    (folder / "acme.yaml").write_text(
        definition("acme", owners=("ops@acme.example",), sites="    - name: blog\n      scaling: {maxWorkers: 99}\n")
    )
    bad = aipress(url, key, "apply", "-f", str(folder))
    assert bad.returncode == 1
    assert f"aipress: {folder / 'acme.yaml'}:9: spec.sites[0].scaling.maxWorkers: 99 is greater" in bad.stderr
    assert "nothing was changed" in bad.stderr

    # Export is a file that applies with no changes; a removed file is pruned only when asked.
    exported = aipress(url, key, "export", "acme", "-o", str(folder / "acme.yaml"))
    assert exported.returncode == 0, exported.stderr
    (folder / "globex.yaml").unlink()
    kept = aipress(url, key, "plan", "-f", str(folder))
    assert kept.stdout.splitlines() == ["acme: no changes", "globex: left alone (no file; --prune deletes it)"]
    pruned = aipress(url, key, "apply", "-f", str(folder), "--prune")
    assert "globex: deleting" in pruned.stdout, pruned.stderr
    assert Tenant.objects.get(slug="globex").status == TenantStatus.DELETING


def test_an_owner_key_stores_a_secret_and_refers_to_it(url, tmp_path, make_tenant, in_memory, celery_worker_thread):
    tenant = make_tenant(slug="acme")
    owner = tenant.memberships.get(role=Role.OWNER).user
    _, key = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="ci", role=Role.ADMIN)
    path = Path(tmp_path / "acme.yaml")
    path.write_text(
        definition(
            "acme",
            owners=(owner.email,),
            display=tenant.name,
            sites="    - name: blog\n      secretEnv: {STRIPE_KEY: {fromSecret: stripe-live}}\n",
        )
    )
    missing = aipress(url, key, "plan", "-f", str(path))
    assert missing.returncode == 1 and "no tenant secret “stripe-live”" in missing.stderr

    stored = aipress(url, key, "secret", "set", "stripe-live", stdin="sk_live_from_stdin\n")
    assert stored.returncode == 0 and "sk_live" not in stored.stdout + stored.stderr
    listed = aipress(url, key, "secret", "list")
    assert "stripe-live" in listed.stdout and "sk_live" not in listed.stdout

    assert aipress(url, key, "apply", "-f", str(path), "--timeout", "60").returncode == 0
    # Owners never create tenants, and without the key nothing works at all.
    other = tmp_path / "new.yaml"
    other.write_text(definition("newco", owners=("a@newco.example",)))
    refused = aipress(url, key, "apply", "-f", str(other))
    assert refused.returncode == 1 and not Tenant.objects.filter(slug="newco").exists()
    unset = aipress(url, "", "plan", "-f", str(path))
    assert unset.returncode == 1
    assert unset.stderr.strip() == "aipress: set AIPRESS_API_KEY (the control plane's address and an API key)"


def test_the_console_script_is_installed_with_the_project():
    script = Path(sys.executable).parent / "aipress"
    assert script.exists(), "make installs the project (pip install -e .), which installs `aipress`"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False, timeout=30)
    assert shown.returncode == 0 and "plan" in shown.stdout and "apply" in shown.stdout
