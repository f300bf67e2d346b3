"""The rules that keep applying a definition safe and convergent: what it leaves alone, what it
refuses before changing anything, and the order it makes changes in."""

import pytest
from django_tenants.utils import tenant_context

from billing.models import Budget, BudgetAction, BudgetEnforcement
from definitions import services
from definitions.models import Application, ApplicationState
from definitions.parsing import DefinitionInvalid, parse_definition
from definitions.selectors import managed_tenant_slugs
from definitions.tests.conftest import definition
from dns.models import CustomDomain
from kernel.errors import Conflict
from sites import services as site_services
from sites.models import Site, SiteEnvVar, SiteStatus
from sites.tests.memory_worker import work
from tenants.audit import Actor
from tenants.models import Role

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def owner_of(tenant):
    return tenant.memberships.get(role=Role.OWNER).user


def apply(tenant, sites="", actor=SYSTEM, worker=True, **kwargs):
    text = definition(tenant.slug, owners=(owner_of(tenant).email,), display=tenant.name, sites=sites, **kwargs)
    applied = services.definition_apply(actor=actor, spec=parse_definition(text, source="t.yaml"), create=False)
    if worker:
        work(tenant)
    return applied


def changes(applied):
    return [str(change) for change in applied.plan.changes]


def test_a_sensitive_value_set_directly_is_left_alone_and_never_overwritten_by_a_plain_one(tenant, memory_sites):
    apply(tenant, "    - name: blog\n")
    site_services.env_set(tenant=tenant, actor=SYSTEM, name="blog", key="API_TOKEN", value="s3cret", sensitive=True)
    work(tenant)
    again = apply(tenant, "    - name: blog\n")
    assert changes(again) == []
    assert "API_TOKEN holds a sensitive value set directly" in again.warnings[0]
    with pytest.raises(DefinitionInvalid) as refused:
        apply(tenant, '    - name: blog\n      env: {API_TOKEN: "plain"}\n')
    assert refused.value.problems[0].field == "spec.sites[0].env.API_TOKEN"
    with tenant_context(tenant):
        assert SiteEnvVar.objects.get(name="API_TOKEN").sensitive


def test_a_site_being_deleted_is_not_deleted_again_and_a_file_naming_it_waits(tenant, memory_sites):
    apply(tenant, "    - name: blog\n    - name: shop\n")
    without_shop = services.definition_apply(
        actor=SYSTEM,
        spec=parse_definition(definition("acme", owners=(owner_of(tenant).email,), display=tenant.name,
                                         sites="    - name: blog\n"), source="t.yaml"),
        create=False,
    )  # fmt: skip
    assert "- site shop: DELETE the site with its files, database and uploads" in changes(without_shop)
    # Before the worker has removed it, the same file again changes nothing.
    assert changes(apply(tenant, "    - name: blog\n", worker=False)) == []
    with pytest.raises(DefinitionInvalid, match="is being deleted"):
        apply(tenant, "    - name: blog\n    - name: shop\n", worker=False)


def test_a_budget_cap_is_not_undone_by_the_next_apply(tenant, memory_sites):
    apply(tenant, "    - name: blog\n      scaling: {maxWorkers: 6}\n")
    with tenant_context(tenant):
        site = Site.objects.get(slug="blog")
    BudgetEnforcement.objects.create(
        tenant=tenant, site_id=site.pk, site_slug="blog", month="2026-12-01", amount=10,
        action=BudgetAction.CAP, previous_workers=6,
    )  # fmt: skip
    site_services.site_update(tenant=tenant, actor=SYSTEM, name="blog", max_php_workers=1)
    work(tenant)
    assert changes(apply(tenant, "    - name: blog\n      scaling: {maxWorkers: 6}\n")) == []
    with tenant_context(tenant):
        assert Site.objects.get(slug="blog").max_php_workers == 1


def test_a_budget_without_a_currency_keeps_its_own_or_takes_the_tenants(tenant, memory_sites, settings):
    settings.BILLING_CURRENCY = "USD"
    from billing import services as billing_services

    billing_services.budget_set(tenant=tenant, actor=SYSTEM, amount="100", currency="EUR")
    applied = apply(tenant, extra_spec="  budget: {monthly: 150}\n")
    assert changes(applied) == ["~ budget acme: 100 EUR/month -> 150 EUR/month"]
    assert Budget.objects.get(tenant=tenant).currency == "EUR"
    assert changes(apply(tenant, extra_spec="  budget: {monthly: 150}\n")) == []


def test_a_domain_another_tenant_holds_is_an_error_in_the_plan(tenant, make_tenant, memory_sites):
    other = make_tenant(slug="globex")
    site_services.site_request(tenant=other, actor=SYSTEM, name="www")
    from dns import services as dns_services

    dns_services.domain_add(tenant=other, actor=SYSTEM, site="www", domain="shop.example.com")
    with pytest.raises(DefinitionInvalid) as refused:
        apply(tenant, "    - name: blog\n      domains: [shop.example.com]\n")
    assert refused.value.problems[0].message.startswith("shop.example.com is taken")
    with tenant_context(tenant):
        assert not Site.objects.exists()
    assert CustomDomain.objects.get(hostname="shop.example.com").tenant == other


def test_removals_come_first_so_a_rename_at_the_limit_and_a_moved_domain_apply(tenant, memory_sites):
    tenant.max_sites = 1
    tenant.save(update_fields=["max_sites"])
    apply(tenant, "    - name: blog\n      domains: [www.acme.example]\n")
    renamed = apply(tenant, "    - name: news\n      domains: [www.acme.example]\n")
    assert "- site blog: DELETE the site with its files, database and uploads" in changes(renamed)
    with tenant_context(tenant):
        assert Site.objects.get(slug="news").status == SiteStatus.READY
    assert CustomDomain.objects.get(hostname="www.acme.example").site_slug == "news"


def test_only_tenants_staff_applied_last_are_pruned(tenant, memory_sites, api_key_for):
    apply(tenant)
    assert managed_tenant_slugs() == ["acme"]
    owner_actor = Actor.of_user(owner_of(tenant))
    apply(tenant, actor=owner_actor)
    assert managed_tenant_slugs() == []  # its owners manage it now, from their own repository


def test_a_definition_waiting_for_its_tenant_is_not_overtaken(tenant, memory_sites):
    Application.objects.create(tenant=tenant, tenant_slug="acme", document={}, requested_by_label="ci", by_staff=True)
    with pytest.raises(Conflict, match="still being set up"):
        apply(tenant, "    - name: blog\n")


def test_a_creation_whose_rest_fails_ends_failed_with_the_reason_never_waiting(tenant, memory_sites):
    document = parse_definition(
        definition(
            "acme", owners=("a@b.example",), sites="    - name: blog\n      secretEnv: {K: {fromSecret: nope}}\n"
        ),
        source="t.yaml",
    ).document()
    waiting = Application.objects.create(tenant=tenant, tenant_slug="acme", document=document, requested_by_label="ci")
    finished = services.application_continue(application_id=waiting.pk)
    assert finished is not None and finished.state == ApplicationState.FAILED
    assert "no tenant secret “nope”" in finished.error
    broken = Application.objects.create(tenant=tenant, tenant_slug="acme", document={"x": 1}, requested_by_label="ci")
    assert services.application_continue(application_id=broken.pk).state == ApplicationState.FAILED


def test_owners_beyond_the_member_limit_are_refused_and_nothing_changes(tenant, memory_sites):
    tenant.max_members = 2
    tenant.save(update_fields=["max_members"])
    owner = owner_of(tenant).email
    text = definition("acme", owners=(owner, "a@x.example", "b@x.example"), display=tenant.name)
    with pytest.raises(Conflict, match="The plan allows 2 members"):
        services.definition_apply(actor=SYSTEM, spec=parse_definition(text, source="t.yaml"), create=False)
    assert tenant.memberships.count() == 1
