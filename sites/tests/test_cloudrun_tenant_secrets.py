"""Tenant secrets on Google Cloud: SITES_SECRETS=secretmanager keeps them, SITES_RUNTIME=cloudrun
hands a linked env var to its site. The official SDKs talk to the loopback fakes (sites/tests/gcp),
which refuse a revision whose service account may not read a secret it refers to; the test is the
worker (as in test_cloudrun_sites.py).

The design under test: a tenant secret is a Secret Manager secret labelled with its tenant alone,
that no site's account may read; a site whose env var is linked to it gets a copy of the value of
its own (labelled with the site, readable by the site's account alone), made when its environment
is applied and deleted once no revision of the site refers to it, or with the site."""

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from sites import pipeline, services, tasks
from sites.models import OperationKind, OperationState, Site, SiteEvent, SiteOperation, SiteStatus
from sites.runtimes.cloudrun import names
from sites.secrets import secretmanager
from sites.spec import SiteSpec, StepError
from sites.tests.conftest import PROJECT, Cloud
from sites.tests.factories import ACTOR, requested_site
from sites.tests.gcp.secretmanager import FakeSecretManager
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = f"projects/{PROJECT}/secrets"
SERVICES = r"/v2/projects/[^/]+/locations/[^/]+/services/"
VALUE = "sk_live_tenant_value_1"
NEW_VALUE = "sk_live_tenant_value_2"
OWN_VALUE = "sk_live_the_sites_own"


# --- Helpers ---------------------------------------------------------------------------------------


def work(tenant: Tenant, site_id: int, limit: int = 200) -> None:
    """Be the worker: advance the site's operations until none is left, time passing at once."""
    for _ in range(limit):
        with tenant_context(tenant):
            if pipeline.advance(tenant=tenant, site_id=site_id) == "idle":
                return
            SiteOperation.objects.filter(site_id=site_id, state=OperationState.WAITING).update(poll_at=timezone.now())
    raise AssertionError("the site's operations never settled")


@pytest.fixture
def by_hand(gcp, make_tenant, monkeypatch):
    """The test is the worker: nothing is queued for a real one."""
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)
    return make_tenant


def _ready_site(tenant: Tenant, name: str = "blog") -> Site:
    site = requested_site(tenant, name, title=name.title())
    work(tenant, site.pk)
    return _site(tenant, name)


def _site(tenant: Tenant, name: str) -> Site:
    with tenant_context(tenant):
        return Site.objects.get(slug=name)


def _key(settings, tenant: Tenant, site: Site) -> str:
    return f"{settings.SITES_KEY_PREFIX}t{tenant.pk}_s{site.pk}"


def _tenant_secret(settings, tenant: Tenant, name: str = "stripe-live") -> str:
    return f"{SECRETS}/aipress-{settings.SITES_KEY_PREFIX}t{tenant.pk}-{name}"


def _service(gcp: Cloud, key: str) -> dict:
    found = gcp.run.service(f"aipress-{key.replace('_', '-')}".lower())
    assert found is not None
    return found


def _account(gcp: Cloud, key: str) -> str:
    return f"serviceAccount:{_service(gcp, key)['template']['serviceAccount']}"


def _env_of(service: dict) -> dict[str, dict]:
    return {e["name"]: e for e in service["template"]["containers"][0]["env"]}


def _patches(gcp: Cloud) -> list[dict]:
    return [r.body for r in gcp.run.requests_to("PATCH", SERVICES)]


def _copies(gcp: Cloud, key: str, env_name: str = "STRIPE_KEY") -> list[str]:
    """The site's copies of tenant secrets for `env_name`, as full secret names."""
    return sorted(n for n in gcp.secrets.secrets if n.startswith(f"{SECRETS}/aipress-{key}-{env_name}-"))


def _last_env_operation(tenant: Tenant, site: Site) -> SiteOperation:
    with tenant_context(tenant):
        return SiteOperation.objects.filter(site=site, kind=OperationKind.ENV).latest("id")


def _assert_serving(gcp: Cloud, key: str) -> None:
    """The latest revision is ready: the fake Cloud Run checked that the site's account may read
    every secret version the revision refers to."""
    service = _service(gcp, key)
    assert service["terminalCondition"]["state"] == "CONDITION_SUCCEEDED", service["terminalCondition"]
    assert service["latestReadyRevision"] == service["latestCreatedRevision"]


def _linked_ref(gcp: Cloud, key: str) -> dict:
    return _env_of(_service(gcp, key))["STRIPE_KEY"]["valueSource"]["secretKeyRef"]


# --- Keeping a tenant secret ---------------------------------------------------------------------


def test_a_tenant_secret_is_the_tenants_alone_in_secret_manager(by_hand, gcp, settings):
    tenant = by_hand(slug="acme")
    secret, created = services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    path = _tenant_secret(settings, tenant)
    assert created and secret.reference == f"{path}/versions/1"
    stored = gcp.secrets.secrets[path]
    # The tenant's label (costs roll up to it), no site label: no site's sweep can list it.
    assert stored.resource["labels"] == {"aipress-tenant-id": str(tenant.pk), "aipress-managed": "true"}
    assert stored.policy["bindings"] == []  # no site's account may read it
    assert gcp.secrets.secret_value(path) == VALUE.encode()
    assert all(VALUE not in str(r.body) for r in gcp.run.requests)

    # A new value is a new version; unused, the old one is destroyed once the change commits.
    secret, created = services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=NEW_VALUE)
    assert not created and secret.reference == f"{path}/versions/2"
    assert gcp.secrets.secret_value(path) == NEW_VALUE.encode()
    assert gcp.secrets.access_problem(path, "1", "allUsers") == "not-found"  # destroyed

    # Deleting it forgets the whole secret.
    services.tenant_secret_delete(tenant=tenant, actor=ACTOR, name="stripe-live")
    assert path not in gcp.secrets.secrets


# --- A linked env var on Cloud Run ---------------------------------------------------------------


def test_a_linked_var_reaches_the_revision_as_a_copy_only_the_site_may_read(by_hand, gcp, settings):
    tenant = by_hand(slug="acme")
    site = _ready_site(tenant)
    key = _key(settings, tenant, site)
    account = _account(gcp, key)
    tenant_path = _tenant_secret(settings, tenant)
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)

    gcp.forget_requests()
    services.env_link_secret(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", secret="stripe-live")
    work(tenant, site.pk)
    assert _last_env_operation(tenant, site).state == OperationState.SUCCEEDED

    # One new revision, whose STRIPE_KEY refers to the site's own copy, pinned to its only version.
    (patch,) = _patches(gcp)
    ref = _env_of(patch)["STRIPE_KEY"]["valueSource"]["secretKeyRef"]
    assert ref["secret"].startswith(f"aipress-{key}-STRIPE_KEY-") and ref["version"] == "1"
    copy = f"{SECRETS}/{ref['secret']}"
    assert _copies(gcp, key) == [copy]
    assert gcp.secrets.secret_value(copy, "1") == VALUE.encode()
    stored = gcp.secrets.secrets[copy].resource
    labels = {"aipress-tenant-id": str(tenant.pk), "aipress-site-id": str(site.pk), "aipress-managed": "true"}
    assert stored["labels"] == {**labels, "aipress-linked": "true"}
    assert stored["annotations"] == {"aipress-copy-of": f"{tenant_path}/versions/1"}
    # The site's account reads its copy, and nobody else does; the tenant's secret stays unreadable to it.
    assert gcp.secrets.secrets[copy].policy["bindings"] == [
        {"role": "roles/secretmanager.secretAccessor", "members": [account]}
    ]
    assert gcp.secrets.access_problem(copy, "1", account) is None
    assert gcp.secrets.access_problem(copy, "1", f"serviceAccount:ap-other@{PROJECT}.iam.gserviceaccount.com") == (
        "denied"
    )
    assert gcp.secrets.access_problem(tenant_path, "latest", account) == "denied"
    assert gcp.secrets.secrets[tenant_path].policy["bindings"] == []
    _assert_serving(gcp, key)
    assert all(VALUE not in str(r.body) for r in gcp.run.requests)  # a reference, never the value

    # A new value of the tenant secret: the site's env operation copies it and rolls a revision
    # that refers to the new copy; then the old copy, and the tenant secret's old version, go.
    gcp.forget_requests()
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=NEW_VALUE)
    work(tenant, site.pk)
    assert _last_env_operation(tenant, site).state == OperationState.SUCCEEDED
    (patch,) = _patches(gcp)
    renewed = f"{SECRETS}/{_env_of(patch)['STRIPE_KEY']['valueSource']['secretKeyRef']['secret']}"
    assert renewed != copy
    assert _copies(gcp, key) == [renewed]  # the old copy is deleted
    assert gcp.secrets.secret_value(renewed, "1") == NEW_VALUE.encode()
    assert gcp.secrets.secrets[renewed].resource["annotations"] == {"aipress-copy-of": f"{tenant_path}/versions/2"}
    assert gcp.secrets.secret_value(tenant_path) == NEW_VALUE.encode()
    assert gcp.secrets.access_problem(tenant_path, "1", "allUsers") == "not-found"  # destroyed once unused
    _assert_serving(gcp, key)


def test_replacing_or_removing_a_link_removes_the_sites_copy(by_hand, gcp, settings):
    tenant = by_hand(slug="acme")
    site = _ready_site(tenant)
    key = _key(settings, tenant, site)
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", secret="stripe-live")
    work(tenant, site.pk)
    assert len(_copies(gcp, key)) == 1

    # A value of its own replaces the link: the site's own secret, and no copy left.
    services.env_set(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", value=OWN_VALUE, sensitive=True)
    work(tenant, site.pk)
    assert _linked_ref(gcp, key) == {"secret": f"aipress-{key}-STRIPE_KEY", "version": "1"}
    assert _copies(gcp, key) == []
    _assert_serving(gcp, key)

    # Linked again: a copy again, and the site's own value is forgotten once the revision serves.
    services.env_link_secret(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", secret="stripe-live")
    work(tenant, site.pk)
    assert _linked_ref(gcp, key)["secret"].startswith(f"aipress-{key}-STRIPE_KEY-")
    assert len(_copies(gcp, key)) == 1
    assert f"{SECRETS}/aipress-{key}-STRIPE_KEY" not in gcp.secrets.secrets
    _assert_serving(gcp, key)

    # Unlinked: a revision without it, the copy (and with it the account's access) gone; the
    # tenant's secret is untouched.
    services.env_delete(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY")
    work(tenant, site.pk)
    assert "STRIPE_KEY" not in _env_of(_service(gcp, key))
    assert _copies(gcp, key) == []
    assert gcp.secrets.secret_value(_tenant_secret(settings, tenant)) == VALUE.encode()
    _assert_serving(gcp, key)


def test_an_update_queued_before_the_secret_changed_deploys_a_copy_that_exists(by_hand, gcp, settings):
    """Operations run oldest first, and every step reads the tenant secret as it is now: an update
    queued before the secret's new value rolls a revision that refers to the new copy, so it must
    exist before that revision starts (or the revision would fail, and the site with it)."""
    tenant = by_hand(slug="acme")
    site = _ready_site(tenant)
    key = _key(settings, tenant, site)
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", secret="stripe-live")
    work(tenant, site.pk)

    services.site_update(tenant=tenant, actor=ACTOR, name="blog", title="Crumbs & Co")
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=NEW_VALUE)
    work(tenant, site.pk)
    with tenant_context(tenant):
        done = list(SiteOperation.objects.filter(site=site).order_by("-id").values_list("kind", "state")[:2])
        # Not even one failed attempt (a revision refusing to start for want of its copy).
        assert not SiteEvent.objects.filter(site=site, outcome=SiteEvent.Outcome.FAILED).exists()
    assert done == [(OperationKind.ENV, OperationState.SUCCEEDED), (OperationKind.UPDATE, OperationState.SUCCEEDED)]
    assert _site(tenant, "blog").status == SiteStatus.READY
    (copy,) = _copies(gcp, key)
    assert gcp.secrets.secret_value(copy, "1") == NEW_VALUE.encode()
    assert _linked_ref(gcp, key)["secret"] == copy.rsplit("/", 1)[-1]
    _assert_serving(gcp, key)


def test_a_copy_deleted_by_hand_is_found_missing_and_repaired(by_hand, gcp, settings):
    tenant = by_hand(slug="acme")
    site = _ready_site(tenant)
    key = _key(settings, tenant, site)
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=tenant, actor=ACTOR, name="blog", key="STRIPE_KEY", secret="stripe-live")
    work(tenant, site.pk)
    (copy,) = _copies(gcp, key)
    secretmanager._client().delete_secret(name=copy)

    with tenant_context(tenant):
        assert tasks.site_check_drift(site.pk) == ["secrets"]
    work(tenant, site.pk)
    assert _copies(gcp, key) == [copy]  # the same copy (same value copied), so no new revision needed
    assert gcp.secrets.secret_value(copy, "1") == VALUE.encode()
    assert gcp.secrets.access_problem(copy, "1", _account(gcp, key)) is None
    with tenant_context(tenant):
        assert tasks.site_check_drift(site.pk) == []


# --- Deletion ------------------------------------------------------------------------------------


def test_deleting_a_site_removes_its_copies_and_never_the_tenant_secret(by_hand, gcp, settings):
    tenant = by_hand(slug="acme")
    blog, shop = _ready_site(tenant, "blog"), _ready_site(tenant, "shop")
    blog_key, shop_key = _key(settings, tenant, blog), _key(settings, tenant, shop)
    tenant_path = _tenant_secret(settings, tenant)
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    for site in (blog, shop):
        services.env_link_secret(tenant=tenant, actor=ACTOR, name=site.slug, key="STRIPE_KEY", secret="stripe-live")
        work(tenant, site.pk)
    assert len(_copies(gcp, blog_key)) == len(_copies(gcp, shop_key)) == 1

    gcp.forget_requests()
    services.site_delete(tenant=tenant, actor=ACTOR, name="blog")
    work(tenant, blog.pk)
    assert _site(tenant, "blog").status == SiteStatus.DELETED
    assert [n for n in gcp.secrets.secrets if blog_key in n] == []  # its copy went with its own secrets
    deleted = [r.path for r in gcp.secrets.requests if r.method == "DELETE"]
    assert deleted and all(f"/secrets/aipress-{blog_key}-" in path for path in deleted)
    # The tenant's secret, and the other site's copy, are untouched; the other site still serves.
    assert gcp.secrets.secret_value(tenant_path) == VALUE.encode()
    (shop_copy,) = _copies(gcp, shop_key)
    assert gcp.secrets.secret_value(shop_copy, "1") == VALUE.encode()
    _assert_serving(gcp, shop_key)

    # The organisation goes: its sites' deletions are asked for, its secrets forgotten at once (no
    # revision reads them: each site reads its copy until its deletion sweeps it).
    assert services.sites_delete_all(tenant=tenant) == 1
    assert tenant_path not in gcp.secrets.secrets
    assert _copies(gcp, shop_key) == [shop_copy]
    work(tenant, shop.pk)
    assert _site(tenant, "shop").status == SiteStatus.DELETED
    assert gcp.secrets.secrets == {}


def test_the_sites_sweep_keeps_what_is_not_the_sites_even_when_the_listing_ignores_its_filter(
    by_hand, gcp, settings, monkeypatch
):
    """Labels select a site's secrets, and its name prefix confirms each one: a listing that let
    everything through (a filter misread) still deletes the site's alone."""
    tenant = by_hand(slug="acme")
    blog, shop = requested_site(tenant, "blog"), requested_site(tenant, "shop")  # their secrets are kept at once
    services.tenant_secret_set(tenant=tenant, actor=ACTOR, name="stripe-live", value=VALUE)
    blog_key, shop_key = _key(settings, tenant, blog), _key(settings, tenant, shop)
    theirs = sorted(n for n in gcp.secrets.secrets if blog_key not in n)
    assert _tenant_secret(settings, tenant) in theirs and any(shop_key in n for n in theirs)
    monkeypatch.setattr(FakeSecretManager, "_matches", staticmethod(lambda resource, expression: True))

    with tenant_context(tenant):
        spec = pipeline.site_spec(site=Site.objects.get(pk=blog.pk), tenant=tenant, reveal=False)
    assert secretmanager.forget_unused_copies(spec) == 0
    secretmanager.SecretManagerStore().remove("secrets", spec, None)
    assert sorted(gcp.secrets.secrets) == theirs


# --- Names -----------------------------------------------------------------------------------------


def test_tenant_and_site_keys_are_told_apart_never_loosened():
    assert names.labels_of_tenant_key("x1_t5") == {"aipress-tenant-id": "5", "aipress-managed": "true"}
    assert names.labels_of_key("x1_t5_s9")["aipress-site-id"] == "9"
    with pytest.raises(ValueError, match="not a site's key"):
        names.labels_of_key("x1_t5")
    with pytest.raises(ValueError, match="not a tenant's key"):
        names.labels_of_tenant_key("x1_t5_s9")
    with pytest.raises(ValueError, match="not a tenant's key"):
        names.tenant_secret_id("x1_t5_s9", "stripe-live")  # a tenant secret is never filed under a site
    assert names.tenant_key_of("x1_t5_s9") == "x1_t5"
    # No tenant secret's id starts like a site's (the sweep's name check), nor like another tenant's.
    tenant_id = names.tenant_secret_id("x1_t5", "s9-stripe")
    assert not tenant_id.startswith(names.secret_id("x1_t5_s9", ""))
    assert not tenant_id.startswith(names.tenant_secret_prefix("x1_t55"))


def test_long_secret_ids_are_digests_under_their_owners_prefix():
    prefix = "p" * 150 + "_"
    tenant_long = names.tenant_secret_id(f"{prefix}t5", "a" * 63)
    assert len(tenant_long) <= names.SECRET_ID_LIMIT
    assert tenant_long.startswith(names.tenant_secret_prefix(f"{prefix}t5"))
    assert tenant_long != names.tenant_secret_id(f"{prefix}t5", "a" * 62 + "b")  # never a cut
    source = f"{SECRETS}/aipress-x1_t5-stripe-live/versions/3"
    copy = names.linked_secret_id(f"{prefix}t5_s9", "K" * 128, source)
    assert len(copy) <= names.SECRET_ID_LIMIT
    assert copy.startswith(names.secret_id(f"{prefix}t5_s9", ""))
    assert copy != names.linked_secret_id(f"{prefix}t5_s9", "K" * 128, source.replace("/3", "/4"))
    # Short, readable: the var's name, then a digest of the version it copies.
    assert names.linked_secret_id("x1_t5_s9", "STRIPE_KEY", source).startswith("aipress-x1_t5_s9-STRIPE_KEY-")


def _spec(reference: str) -> SiteSpec:
    return SiteSpec(
        tenant_id=5,
        tenant_slug="acme",
        site_id=9,
        slug="blog",
        title="Blog",
        hostname="blog--acme.sites.localhost",
        max_php_workers=2,
        admin_email="",
        env={"STRIPE_KEY": VALUE},
        references={"STRIPE_KEY": reference},
    )


def test_a_link_to_what_is_not_the_tenants_is_refused(settings):
    settings.GOOGLE_CLOUD_PROJECT = PROJECT
    prefix = settings.SITES_KEY_PREFIX
    ours = _spec(f"{SECRETS}/aipress-{prefix}t5-stripe-live/versions/2")
    assert secretmanager.linked_source(ours, "STRIPE_KEY") == f"{SECRETS}/aipress-{prefix}t5-stripe-live/versions/2"
    own = _spec(f"{SECRETS}/aipress-{prefix}t5_s9-STRIPE_KEY/versions/4")
    assert secretmanager.linked_source(own, "STRIPE_KEY") is None
    assert secretmanager.env_secret(own, "STRIPE_KEY") == (f"aipress-{prefix}t5_s9-STRIPE_KEY", "4")
    for foreign in (
        f"{SECRETS}/aipress-{prefix}t55-stripe-live/versions/1",  # another tenant's
        f"{SECRETS}/aipress-{prefix}t5_s10-STRIPE_KEY/versions/1",  # another site's
        f"projects/elsewhere/secrets/aipress-{prefix}t5-stripe-live/versions/1",  # another project
        f"{SECRETS}/aipress-{prefix}t5-stripe-live/versions/latest",  # not a pinned version
    ):
        with pytest.raises(StepError, match="neither the site's nor its organisation's"):
            secretmanager.env_secret(_spec(foreign), "STRIPE_KEY")
