"""Sites as records: names, the plan's limit, legal moves only, secrets encrypted at rest."""

import pytest
from django_tenants.utils import tenant_context

from aipress.errors import Conflict, InvalidInput
from sites import secrets, services
from sites.inventory.models import SiteRecord
from sites.models import TRANSITIONS, Site, SiteSecret, SiteStatus
from tenants.audit import Actor

pytestmark = pytest.mark.django_db


def _create(tenant, owner, name, title=""):
    with tenant_context(tenant):
        site, _password = services.site_create(actor=Actor.of_user(owner), tenant=tenant, name=name, title=title)
        return site


def test_create_records_site_inventory_and_encrypted_secrets(tenant, owner):
    site = _create(tenant, owner, "blog", "My blog")
    record = SiteRecord.objects.get(tenant=tenant, slug="blog")
    assert (record.status, record.hostname) == ("requested", "blog--acme.sites.localhost")
    with tenant_context(tenant):
        assert Site.objects.get(pk=site.pk).title == "My blog"
        stored = {s.name: s.ciphertext for s in SiteSecret.objects.filter(site=site)}
        spec = services.site_spec(site=site, tenant=tenant)
    assert set(stored) == {"DB_PASSWORD", "WP_ADMIN_PASSWORD", "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY",
                           "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"}  # fmt: skip
    password = spec.secrets["DB_PASSWORD"]
    assert len(password) >= 40
    assert password not in stored["DB_PASSWORD"]
    assert "DB_PASSWORD" not in repr(spec) and password not in repr(spec)


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
def test_invalid_names_are_refused_and_change_nothing(tenant, owner, name, message):
    with pytest.raises(InvalidInput, match=message) as info:
        _create(tenant, owner, name)
    assert info.value.field == "name"
    assert not SiteRecord.objects.exists()


def test_taken_name_and_plan_limit(tenant, owner):
    _create(tenant, owner, "blog")
    with pytest.raises(InvalidInput, match="already exists"):
        _create(tenant, owner, "blog")
    tenant.max_sites = 2
    tenant.save()
    _create(tenant, owner, "shop")
    with pytest.raises(Conflict, match="allows 2 sites"):
        _create(tenant, owner, "news")
    assert SiteRecord.objects.filter(tenant=tenant).count() == 2


def test_only_legal_transitions(tenant, owner):
    site = _create(tenant, owner, "blog")
    with tenant_context(tenant):
        with pytest.raises(Conflict, match="cannot become ready"):
            services.site_transition(site=site, tenant=tenant, to=SiteStatus.READY)
        for step in (SiteStatus.PROVISIONING, SiteStatus.READY, SiteStatus.SUSPENDED, SiteStatus.READY):
            site = services.site_transition(site=site, tenant=tenant, to=step)
        assert SiteRecord.objects.get(slug="blog").status == "ready"
        with pytest.raises(Conflict):
            services.site_transition(site=site, tenant=tenant, to=SiteStatus.PROVISIONING)


def test_transition_table_is_closed_and_deleted_is_final():
    states = set(SiteStatus.values)
    assert set(TRANSITIONS) == states
    assert all(targets <= states for targets in TRANSITIONS.values())
    assert TRANSITIONS[SiteStatus.DELETED] == frozenset()
    assert all(SiteStatus.DELETED not in targets for status, targets in TRANSITIONS.items() if status != "deleting")


def test_same_name_in_two_tenants_is_fine(make_tenant, owner, tenant):
    other = make_tenant(slug="globex")
    _create(tenant, owner, "blog")
    _create(other, other.memberships.get().user, "blog")
    assert sorted(SiteRecord.objects.values_list("hostname", flat=True)) == [
        "blog--acme.sites.localhost",
        "blog--globex.sites.localhost",
    ]


def test_secret_keys_rotate(settings):
    from cryptography.fernet import Fernet

    old = settings.SITES_SECRET_KEYS[0]
    ciphertext = secrets.encrypt("s3cret")
    settings.SITES_SECRET_KEYS = [Fernet.generate_key().decode(), old]  # new key first
    assert secrets.decrypt(ciphertext) == "s3cret"
    rotated = secrets.rotate_ciphertext(ciphertext)
    settings.SITES_SECRET_KEYS = settings.SITES_SECRET_KEYS[:1]  # old key gone
    assert secrets.decrypt(rotated) == "s3cret"
