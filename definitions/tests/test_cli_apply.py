"""Tenants as code from a folder, as a CI pipeline runs it: apply, change, prune, and again."""

import pytest
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from billing.models import Budget
from definitions.models import Application
from definitions.tests.conftest import definition, run, store_secret
from dns.models import CustomDomain
from kernel.testing import wait_until
from sites import pipeline
from sites.models import Site, SiteEnvVar, SiteStatus
from tenants.models import Membership, Role, Tenant, TenantStatus

pytestmark = pytest.mark.django_db(transaction=True)

BLOG = """    - name: blog
      title: "Acme blog"
      scaling: {maxWorkers: 2}
      env: {ANALYTICS_ID: "G-123"}
      domains: [blog.acme.example]
"""


def sites_of(slug: str) -> dict[str, Site]:
    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        return {site.slug: site for site in Site.objects.exclude(status=SiteStatus.DELETED)}


def env_of(slug: str, site: str) -> dict[str, str]:
    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        return {var.name: var.from_secret or "(value)" for var in SiteEnvVar.objects.filter(site__slug=site)}


def test_a_folder_applied_changed_pruned_and_applied_again_converges(
    write, in_memory, drop_created_schemas, celery_worker_thread, dns_server
):
    write(
        "acme.yaml",
        definition(
            "acme",
            owners=("ops@acme.example", "cto@acme.example"),
            display="Acme Ltd",
            extra_spec="  budget: {monthly: 200, currency: USD}\n",
            sites=BLOG + "    - name: shop\n",
        ),
    )
    write("globex.yml", definition("globex", owners=("it@globex.example",), sites="    - name: www\n"))
    folder = write("initech.json", '{"apiVersion": "aipress.io/v1alpha1", "kind": "Tenant", '
                   '"metadata": {"name": "initech"}, "spec": {"owners": ["boss@initech.example"]}}').parent  # fmt: skip

    out, _ = run("tenant", "apply", "-f", str(folder), "--timeout", "60")
    assert "acme: " in out and "globex: " in out and "initech: " in out
    assert set(Tenant.objects.values_list("slug", "status")) == {
        ("acme", TenantStatus.ACTIVE), ("globex", TenantStatus.ACTIVE), ("initech", TenantStatus.ACTIVE)
    }  # fmt: skip
    acme = Tenant.objects.get(slug="acme")
    assert acme.name == "Acme Ltd"
    owners = Membership.objects.filter(tenant=acme, role=Role.OWNER).values_list("user__email", flat=True)
    assert sorted(owners) == ["cto@acme.example", "ops@acme.example"]
    sites = sites_of("acme")
    assert set(sites) == {"blog", "shop"}
    # The command followed the operations to their end: the sites run.
    assert sites["blog"].status == SiteStatus.READY and sites["blog"].max_php_workers == 2
    assert sites["shop"].title == "shop" and sites["shop"].max_php_workers == 4  # the defaults
    assert env_of("acme", "blog") == {"ANALYTICS_ID": "(value)"}
    assert list(CustomDomain.objects.filter(tenant=acme).values_list("hostname", flat=True)) == ["blog.acme.example"]
    budget = Budget.objects.get(tenant=acme, site_id=None)
    assert (budget.amount, budget.currency) == (200, "USD")

    again, _ = run("tenant", "plan", "-f", str(folder))
    assert again.splitlines() == ["acme: no changes", "globex: no changes", "initech: no changes"]

    _change_one(write, acme, folder)
    run("tenant", "apply", "-f", str(folder), "--timeout", "60")
    assert set(sites_of("acme")) == {"blog"}
    assert sites_of("acme")["blog"].max_php_workers == 3
    assert env_of("acme", "blog") == {"ANALYTICS_ID": "(value)", "STRIPE_KEY": "stripe-live"}
    with tenant_context(acme):  # what the runtime is given: the secret's value
        assert pipeline.site_spec(site=sites_of("acme")["blog"], tenant=acme).env["STRIPE_KEY"] == "sk_live_123"
    assert Membership.objects.get(tenant=acme, user__email="cto@acme.example").role == Role.ADMIN
    assert not Budget.objects.filter(tenant=acme).exists()

    # Remove a file: without --prune the tenant is left alone, with it the tenant is deleted.
    (folder / "globex.yml").unlink()
    kept, _ = run("tenant", "apply", "-f", str(folder))
    assert "globex: left alone (no file; --prune deletes it)" in kept
    assert Tenant.objects.get(slug="globex").status == TenantStatus.ACTIVE
    pruned, _ = run("tenant", "apply", "-f", str(folder), "--prune")
    assert "globex: deleting" in pruned
    wait_until(lambda: not Tenant.objects.filter(slug="globex").exists(), timeout=60, what="globex gone")

    final, _ = run("tenant", "plan", "-f", str(folder), "--prune")
    assert final.splitlines() == ["acme: no changes", "initech: no changes"]

    # Export, then apply what was exported: nothing changes.
    exported, _ = run("tenant", "export", "acme")
    write("acme.yaml", exported)
    assert run("tenant", "plan", "-f", str(folder))[0].splitlines()[0] == "acme: no changes"
    assert Application.objects.filter(tenant_slug="acme").count() >= 3


def _change_one(write, acme, folder):
    """A secret reference, a domain swapped, scaling, an owner and the budget gone, the shop removed:
    all shown by the plan first, which changes nothing."""
    store_secret(acme, "stripe-live", "sk_live_123")
    write(
        "acme.yaml",
        definition(
            "acme",
            owners=("ops@acme.example",),
            display="Acme Ltd",
            sites=BLOG.replace("maxWorkers: 2", "maxWorkers: 3").replace("blog.acme.example", "www.acme.example")
            + "      secretEnv: {STRIPE_KEY: {fromSecret: stripe-live}}\n",
        ),
    )
    plan, _ = run("tenant", "plan", "-f", str(folder))
    assert "- site shop: DELETE the site with its files, database and uploads" in plan
    assert "- budget acme: remove the budget of 200 USD/month" in plan
    assert "~ owners acme: cto@acme.example becomes an admin" in plan
    assert "+ domain blog www.acme.example" in plan and "- domain blog blog.acme.example" in plan
    assert "+ secretEnv blog STRIPE_KEY: from secret stripe-live" in plan
    assert "~ site blog: maxWorkers: 2 -> 3" in plan
    assert sites_of("acme")["shop"].status == SiteStatus.READY  # a plan changes nothing


def test_one_bad_file_in_a_folder_changes_nothing(write, in_memory, drop_created_schemas):
    write("good.yaml", definition("good", sites="    - name: blog\n"))
    folder = write("bad.yaml", definition("bad", sites="    - name: blog\n      scaling: {maxWorkers: lots}\n")).parent
    with pytest.raises(CommandError, match="1 problem"):
        run("tenant", "apply", "-f", str(folder))
    assert not Tenant.objects.exists()


def test_a_missing_secret_is_an_error_in_the_plan_not_a_half_applied_tenant(write, in_memory, make_tenant):
    tenant = make_tenant(slug="acme")
    owner = tenant.memberships.get().user.email
    path = write(
        "acme.yaml",
        definition(
            "acme",
            owners=(owner,),
            sites="    - name: blog\n      env: {A: b}\n      secretEnv: {STRIPE_KEY: {fromSecret: stripe-live}}\n",
        ),
    )
    with pytest.raises(CommandError, match="nothing was changed"):
        run("tenant", "apply", "-f", str(path))
    with tenant_context(tenant):
        assert not Site.objects.exists()


def test_exit_code_2_when_a_plan_has_changes(write, in_memory, make_tenant):
    tenant = make_tenant(slug="acme")
    owner = tenant.memberships.get().user.email
    path = write("acme.yaml", definition("acme", owners=(owner,), display="Acme Renamed"))
    with pytest.raises(SystemExit) as exited:
        run("tenant", "plan", "-f", str(path), "--exit-code")
    assert exited.value.code == 2
    assert Tenant.objects.get(slug="acme").name == tenant.name
    path.write_text(definition("acme", owners=(owner,), display=tenant.name))
    out, _ = run("tenant", "plan", "-f", str(path), "--exit-code")
    assert out.strip() == "acme: no changes"


def test_prune_needs_a_folder(write, in_memory, make_tenant):
    make_tenant(slug="globex")
    path = write("acme.yaml", definition("acme"))
    with pytest.raises(CommandError, match="--prune needs the folder"):
        run("tenant", "apply", "-f", str(path), "--prune")
    assert Tenant.objects.filter(slug="globex", status=TenantStatus.ACTIVE).exists()
