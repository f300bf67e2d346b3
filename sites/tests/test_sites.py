"""Sites as records: names, the plan's limit, legal moves only, secrets kept by the secret store,
services that enter the tenant's schema and check the actor's role themselves."""

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from kernel.errors import Conflict, InvalidInput, NotFound, NotPermitted
from sites import pipeline, selectors, services
from sites.drivers import secret_store
from sites.inventory.models import SiteRecord
from sites.models import TRANSITIONS, Site, SiteSecret, SiteStatus
from sites.tests.factories import requested_site
from tenants.audit import Actor
from tenants.models import Role

pytestmark = pytest.mark.django_db


def test_create_records_site_inventory_and_secrets_kept_by_the_store(tenant, owner):
    site, operation, password = services.site_request(
        tenant=tenant, actor=Actor.of_user(owner), name="blog", title="My blog"
    )
    assert (operation.kind, operation.state, operation.steps_total) == ("create", "queued", len(pipeline.STEPS))
    record = SiteRecord.objects.get(tenant=tenant, slug="blog")
    assert (record.status, record.hostname) == ("requested", "blog--acme.sites.localhost")
    assert record.attention_at is not None  # the reconciler knows to look if nobody moves it
    with tenant_context(tenant):
        assert Site.objects.get(pk=site.pk).title == "My blog"
        stored = {s.name: s.reference for s in SiteSecret.objects.filter(site=site)}
        spec = pipeline.site_spec(site=site, tenant=tenant)
    assert set(stored) == {"DB_PASSWORD", "WP_ADMIN_PASSWORD", "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY",
                           "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"}  # fmt: skip
    assert spec.secrets["WP_ADMIN_PASSWORD"] == password
    db_password = spec.secrets["DB_PASSWORD"]
    assert len(db_password) >= 40
    assert db_password not in stored["DB_PASSWORD"]
    assert "DB_PASSWORD" not in repr(spec) and db_password not in repr(spec)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("my_blog", "lowercase"),
        ("-blog", "lowercase"),
        ("a", "2 to 40"),
        ("my--blog", "Double hyphens"),
        ("x" * 41, "2 to 40"),
    ],
)
def test_invalid_names_are_refused_and_change_nothing(tenant, name, message):
    with pytest.raises(InvalidInput, match=message) as info:
        requested_site(tenant, name)
    assert info.value.field == "name"
    assert not SiteRecord.objects.exists()


@pytest.mark.parametrize("title", ["x" * 201, "two\nlines", "   "])
def test_invalid_titles_are_refused(tenant, title):
    with pytest.raises(InvalidInput, match=r"title|line") as info:
        services.site_request(tenant=tenant, actor=Actor.system("tests"), name="blog", title=title)
    assert info.value.field == "title"


def test_taken_name_and_plan_limit(tenant):
    requested_site(tenant, "blog")
    with pytest.raises(InvalidInput, match="already exists"):
        requested_site(tenant, "blog")
    tenant.max_sites = 2
    tenant.save()
    requested_site(tenant, "shop")
    with pytest.raises(Conflict, match="allows 2 sites"):
        requested_site(tenant, "news")
    assert SiteRecord.objects.filter(tenant=tenant).count() == 2


def test_only_legal_transitions(tenant):
    site = requested_site(tenant, "blog")
    with tenant_context(tenant):
        site = Site.objects.get(pk=site.pk)
        with pytest.raises(ValueError, match="cannot become ready"):
            pipeline.set_status(site, tenant, SiteStatus.READY)
        for status in (SiteStatus.PROVISIONING, SiteStatus.READY, SiteStatus.SUSPENDED, SiteStatus.READY):
            pipeline.set_status(site, tenant, status)
        assert SiteRecord.objects.get(slug="blog").status == "ready"
        with pytest.raises(ValueError, match="cannot become"):
            pipeline.set_status(site, tenant, SiteStatus.PROVISIONING)


def test_transition_table_is_closed_and_deleted_is_final():
    states = set(SiteStatus.values)
    assert set(TRANSITIONS) == states
    assert all(targets <= states for targets in TRANSITIONS.values())
    assert TRANSITIONS[SiteStatus.DELETED] == frozenset()
    assert all(SiteStatus.DELETED not in targets for status, targets in TRANSITIONS.items() if status != "deleting")


def test_same_name_in_two_tenants_is_fine(make_tenant, tenant):
    other = make_tenant(slug="globex")
    requested_site(tenant, "blog")
    requested_site(other, "blog")
    assert sorted(SiteRecord.objects.values_list("hostname", flat=True)) == [
        "blog--acme.sites.localhost",
        "blog--globex.sites.localhost",
    ]


def test_services_enter_the_tenants_schema_whatever_the_caller_had_active(make_tenant, tenant, owner):
    other = make_tenant(slug="globex")
    with tenant_context(other):  # the caller was somewhere else: the service must not care
        site, _, _ = services.site_request(tenant=tenant, actor=Actor.of_user(owner), name="blog")
        assert connection.schema_name == other.schema_name
    with tenant_context(tenant):
        assert Site.objects.filter(pk=site.pk, slug="blog").exists()
    with tenant_context(other):
        assert not Site.objects.filter(slug="blog").exists()
        assert [s.slug for s in selectors.site_list(tenant=tenant, actor=Actor.of_user(owner))] == ["blog"]


def test_services_check_the_actors_role(tenant, add_member, make_tenant):
    billing = Actor.of_user(add_member(tenant, Role.BILLING))
    outsider = Actor.of_user(make_tenant(slug="globex").memberships.get().user)
    requested_site(tenant, "blog")
    with pytest.raises(NotPermitted, match="can see sites but not change them"):
        services.site_request(tenant=tenant, actor=billing, name="shop")
    with pytest.raises(NotPermitted):
        services.site_delete(tenant=tenant, actor=billing, name="blog")
    with pytest.raises(NotPermitted):
        services.env_set(tenant=tenant, actor=outsider, name="blog", key="A", value="1", sensitive=False)
    assert [s.slug for s in selectors.site_list(tenant=tenant, actor=billing)] == ["blog"]  # billing reads
    with pytest.raises(NotFound):
        selectors.site_list(tenant=tenant, actor=outsider)  # an outsider learns nothing


def test_secret_keys_rotate(settings):
    from cryptography.fernet import Fernet

    store = secret_store()
    old = settings.SITES_SECRET_KEYS[0]
    reference = store.store(owner="t1_s1", name="X", value="s3cret")
    settings.SITES_SECRET_KEYS = [Fernet.generate_key().decode(), old]  # new key first
    assert store.reveal(reference) == "s3cret"
    rotated = store.rotate(reference)
    settings.SITES_SECRET_KEYS = settings.SITES_SECRET_KEYS[:1]  # old key gone
    assert store.reveal(rotated) == "s3cret"
