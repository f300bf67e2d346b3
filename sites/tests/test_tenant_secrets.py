"""Tenant secrets: named, write-only values that site env vars take their value from. The services,
selectors and the pipeline's spec with the in-memory runtime (the test is the worker), and the
portal's pages. The API has its own file (test_api_tenant_secrets.py); a real site reading a linked
secret from PHP is in test_api_sites.py."""

import logging

import pytest
from django_tenants.utils import tenant_context

from kernel.errors import Conflict, InvalidInput, NotFound, NotPermitted
from sites import pipeline, selectors, services
from sites.drivers import secret_store
from sites.models import OperationKind, Site, SiteEnvVar, SiteOperation, SiteStatus, TenantSecret
from sites.runtimes import memory
from sites.tests.factories import requested_site
from tenants.audit import Actor
from tenants.models import AuditEvent, Role, Tenant

pytestmark = pytest.mark.django_db

VALUE = "sk_live_tenant_secret_value_1"
NEW_VALUE = "sk_live_tenant_secret_value_2"


@pytest.fixture
def kicks(monkeypatch):
    asked: list[int] = []
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: asked.append(site_id))
    return asked


@pytest.fixture
def in_memory(settings, kicks):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    yield memory
    memory.reset()


@pytest.fixture
def acme(make_tenant, in_memory) -> Tenant:
    return make_tenant(slug="acme")


@pytest.fixture
def owner(acme) -> Actor:
    return Actor.of_user(acme.memberships.get(role=Role.OWNER).user)


@pytest.fixture
def forgotten(monkeypatch) -> list[str]:
    """The references the secret store was asked to forget (the local store's forget does nothing)."""
    asked: list[str] = []
    store = type(secret_store())
    monkeypatch.setattr(store, "forget", lambda self, reference: asked.append(reference))
    return asked


def _advance(tenant: Tenant, site: Site) -> str:
    with tenant_context(tenant):
        return pipeline.advance(tenant=tenant, site_id=site.pk)


def _spec_env(tenant: Tenant, name: str) -> dict[str, str]:
    with tenant_context(tenant):
        return pipeline.site_spec(site=Site.objects.get(slug=name, status=SiteStatus.READY), tenant=tenant).env


def _reference(tenant: Tenant, name: str) -> str:
    with tenant_context(tenant):
        return TenantSecret.objects.get(name=name).reference


def _env_operations(tenant: Tenant, name: str) -> list[SiteOperation]:
    with tenant_context(tenant):
        return list(SiteOperation.objects.filter(site__slug=name, kind=OperationKind.ENV).order_by("id"))


def _ready(tenant: Tenant, name: str) -> Site:
    site = requested_site(tenant, name)
    _advance(tenant, site)
    return site


def test_set_lists_replaces_and_deletes_without_showing_the_value(acme, owner, forgotten, caplog):
    caplog.set_level(logging.DEBUG)
    secret, created = services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    assert created and secret.name == "stripe-live"
    assert secret_store().reveal(_reference(acme, "stripe-live")) == VALUE
    listed = selectors.tenant_secrets(tenant=acme, actor=owner)
    assert [(s["name"], s["used_by"], s["updated_by_label"]) for s in listed] == [("stripe-live", [], owner.label)]
    assert set(listed[0]) == {"name", "created_at", "updated_at", "updated_by_label", "used_by"}
    assert selectors.tenant_secret_exists(tenant=acme, name="stripe-live")
    assert not selectors.tenant_secret_exists(tenant=acme, name="stripe-test")

    again, created = services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=NEW_VALUE)
    assert not created and again.pk == secret.pk
    assert secret_store().reveal(_reference(acme, "stripe-live")) == NEW_VALUE
    with tenant_context(acme):
        assert TenantSecret.objects.count() == 1

    services.tenant_secret_delete(tenant=acme, actor=owner, name="stripe-live")
    assert selectors.tenant_secrets(tenant=acme, actor=owner) == []
    with pytest.raises(NotFound, match="No secret “stripe-live” here"):
        services.tenant_secret_delete(tenant=acme, actor=owner, name="stripe-live")

    # Audited by name, never by value; and no log record carries the value either.
    actions = list(
        AuditEvent.objects.filter(tenant=acme, action__startswith="secret.")
        .order_by("id")
        .values_list("action", "target", "details")
    )
    assert [(action, target) for action, target, _ in actions] == [
        ("secret.set", "stripe-live"),
        ("secret.set", "stripe-live"),
        ("secret.delete", "stripe-live"),
    ]
    assert all(VALUE not in str(row) and NEW_VALUE not in str(row) for row in actions)
    for record in caplog.records:
        seen = f"{record.getMessage()} {record.__dict__}"
        assert VALUE not in seen and NEW_VALUE not in seen


def test_replacing_a_used_secret_updates_every_site_using_it_and_retires_the_old_value(
    acme, owner, forgotten, django_capture_on_commit_callbacks
):
    blog, shop = _ready(acme, "blog"), _ready(acme, "shop")
    _ready(acme, "other")  # uses no secret: gets no operation
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live")
    services.env_link_secret(tenant=acme, actor=owner, name="shop", key="PAYMENTS", secret="stripe-live")
    for site in (blog, shop):
        _advance(acme, site)
    assert _spec_env(acme, "blog") == {"STRIPE_KEY": VALUE}
    assert _spec_env(acme, "shop") == {"PAYMENTS": VALUE}
    assert [s["used_by"] for s in selectors.tenant_secrets(tenant=acme, actor=owner)] == [
        ["blog/STRIPE_KEY", "shop/PAYMENTS"]
    ]
    old = _reference(acme, "stripe-live")
    before = {name: len(_env_operations(acme, name)) for name in ("blog", "shop", "other")}

    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=NEW_VALUE)
    assert forgotten == []  # the sites still run with the old value until their operations finish
    after = {name: len(_env_operations(acme, name)) for name in ("blog", "shop", "other")}
    assert after == {"blog": before["blog"] + 1, "shop": before["shop"] + 1, "other": before["other"]}
    queued = _env_operations(acme, "blog")[-1]
    assert queued.state == "queued" and queued.params["retire"] == [old]

    assert _spec_env(acme, "blog") == {"STRIPE_KEY": NEW_VALUE}  # what the queued operation will apply
    with django_capture_on_commit_callbacks(execute=True):
        _advance(acme, blog)
    assert _env_operations(acme, "blog")[-1].state == "succeeded"
    assert old in forgotten
    assert secret_store().reveal(_reference(acme, "stripe-live")) == NEW_VALUE


def test_replacing_an_unused_secret_forgets_the_old_value_at_once(
    acme, owner, forgotten, django_capture_on_commit_callbacks
):
    services.tenant_secret_set(tenant=acme, actor=owner, name="mailer", value=VALUE)
    old = _reference(acme, "mailer")
    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_secret_set(tenant=acme, actor=owner, name="mailer", value=NEW_VALUE)
    assert forgotten == [old]


def test_delete_is_refused_while_an_env_var_uses_it(acme, owner, forgotten, django_capture_on_commit_callbacks):
    _ready(acme, "blog")
    _ready(acme, "shop")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live")
    services.env_link_secret(tenant=acme, actor=owner, name="shop", key="STRIPE_KEY", secret="stripe-live")
    with pytest.raises(
        Conflict, match="stripe-live is used by blog's STRIPE_KEY, shop's STRIPE_KEY: remove those first"
    ):
        services.tenant_secret_delete(tenant=acme, actor=owner, name="stripe-live")
    assert selectors.tenant_secret_exists(tenant=acme, name="stripe-live")

    # A literal value replaces the link; removing the var works for a link too; neither touches the secret.
    with django_capture_on_commit_callbacks(execute=True):
        services.env_set(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", value="literal", sensitive=False)
        services.env_delete(tenant=acme, actor=owner, name="shop", key="STRIPE_KEY")
    with tenant_context(acme):
        var = SiteEnvVar.objects.get(site__slug="blog", name="STRIPE_KEY")
        assert var.from_secret == "" and secret_store().reveal(var.reference) == "literal"
        # The link stored no value, so the literal replacing it is as sensitive as asked (not at all).
        assert not var.sensitive
        assert not SiteEnvVar.objects.filter(site__slug="shop").exists()
        retired = [r for op in SiteOperation.objects.filter(kind="env") for r in op.params.get("retire", [])]
    assert "" not in retired  # a link's empty reference is never handed to the store
    reference = _reference(acme, "stripe-live")

    with django_capture_on_commit_callbacks(execute=True):
        services.tenant_secret_delete(tenant=acme, actor=owner, name="stripe-live")
    assert forgotten == [reference]
    assert not selectors.tenant_secret_exists(tenant=acme, name="stripe-live")


def test_deleting_a_site_drops_its_links_but_never_the_secret(
    acme, owner, forgotten, django_capture_on_commit_callbacks
):
    site = _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live")
    services.env_set(tenant=acme, actor=owner, name="blog", key="OWN", value="mine", sensitive=False)
    with tenant_context(acme):
        own = SiteEnvVar.objects.get(site=site, name="OWN").reference
    reference = _reference(acme, "stripe-live")
    with django_capture_on_commit_callbacks(execute=True):
        services.site_delete(tenant=acme, actor=owner, name="blog")
        _advance(acme, site)
    with tenant_context(acme):
        assert Site.objects.get(pk=site.pk).status == SiteStatus.DELETED
        assert not SiteEnvVar.objects.filter(site=site).exists()
    assert own in forgotten and reference not in forgotten and "" not in forgotten
    assert secret_store().reveal(_reference(acme, "stripe-live")) == VALUE
    assert selectors.tenant_secrets(tenant=acme, actor=owner)[0]["used_by"] == []
    services.tenant_secret_delete(tenant=acme, actor=owner, name="stripe-live")  # free at once


def test_a_linked_var_is_shown_masked_with_its_secret(acme, owner):
    _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    var, operation = services.env_link_secret(
        tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live"
    )
    assert (var.from_secret, var.reference, var.sensitive) == ("stripe-live", "", True)
    assert operation.kind == OperationKind.ENV
    [(shown_var, shown)] = selectors.site_env_vars(tenant=acme, actor=owner, name="blog")
    assert (shown_var.from_secret, shown) == ("stripe-live", selectors.MASK)
    assert AuditEvent.objects.filter(tenant=acme, action="site.env.link", target="blog").get().details == {
        "name": "STRIPE_KEY",
        "from_secret": "stripe-live",
    }


def test_a_secret_gone_behind_the_platforms_back_fails_the_env_step_by_name(acme, owner, monkeypatch):
    site = _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live")
    with tenant_context(acme):
        TenantSecret.objects.filter(name="stripe-live").delete()  # by hand, in the database
    monkeypatch.setattr(pipeline, "STEP_RETRIES", 0)
    _advance(acme, site)
    failed = _env_operations(acme, "blog")[-1]
    assert failed.state == "failed"
    assert "STRIPE_KEY takes its value from the secret “stripe-live”, which no longer exists" in failed.error
    with tenant_context(acme):
        assert Site.objects.get(pk=site.pk).status == SiteStatus.READY  # still serving, as before
        # Removing needs no value: the site can still be deleted.
        services.site_delete(tenant=acme, actor=owner, name="blog")
    _advance(acme, site)
    with tenant_context(acme):
        assert Site.objects.get(pk=site.pk).status == SiteStatus.DELETED


@pytest.mark.parametrize(
    "name", ["", "Stripe", "stripe_live", "-stripe", "stripe-", "stripe live", "stripé", "a" * 64, "../etc"]
)
def test_bad_names_are_refused_and_change_nothing(acme, owner, name):
    with pytest.raises(InvalidInput, match="lowercase letters, digits and hyphens") as refused:
        services.tenant_secret_set(tenant=acme, actor=owner, name=name, value=VALUE)
    assert refused.value.field == "name"
    with tenant_context(acme):
        assert not TenantSecret.objects.exists()
    assert not AuditEvent.objects.filter(tenant=acme, action__startswith="secret.").exists()


def test_names_at_the_limits_are_fine(acme, owner):
    for name in ("a", "0", "a" * 63, "stripe-live-2"):
        services.tenant_secret_set(tenant=acme, actor=owner, name=name, value=VALUE)
    assert len(selectors.tenant_secrets(tenant=acme, actor=owner)) == 4


@pytest.mark.parametrize("value", ["a\x00b", "x" * 8193])
def test_bad_values_are_refused_and_change_nothing(acme, owner, value):
    services.tenant_secret_set(tenant=acme, actor=owner, name="kept", value=VALUE)
    kept = _reference(acme, "kept")
    for name in ("kept", "fresh"):
        with pytest.raises(InvalidInput) as refused:
            services.tenant_secret_set(tenant=acme, actor=owner, name=name, value=value)
        assert refused.value.field == "value"
    with tenant_context(acme):
        assert list(TenantSecret.objects.values_list("name", flat=True)) == ["kept"]
    assert _reference(acme, "kept") == kept


def test_links_are_checked(acme, owner):
    _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    with pytest.raises(NotFound, match="No secret “stripe-test” here"):
        services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-test")
    with pytest.raises(NotFound, match="No site “ghost” here"):
        services.env_link_secret(tenant=acme, actor=owner, name="ghost", key="lower", secret="nope")
    with pytest.raises(InvalidInput) as bad_key:
        services.env_link_secret(tenant=acme, actor=owner, name="blog", key="DB_PASSWORD", secret="stripe-live")
    assert bad_key.value.field == "name"
    with pytest.raises(InvalidInput) as bad_secret:
        services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="Not Valid")
    assert bad_secret.value.field == "from_secret"
    with tenant_context(acme):
        assert not SiteEnvVar.objects.exists()


def test_roles(acme, owner, add_member):
    _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    admin = Actor.of_user(add_member(acme, Role.ADMIN))
    member = Actor.of_user(add_member(acme, Role.MEMBER))
    billing = Actor.of_user(add_member(acme, Role.BILLING))
    services.tenant_secret_set(tenant=acme, actor=admin, name="mailer", value=VALUE)
    services.env_link_secret(tenant=acme, actor=admin, name="blog", key="MAILER", secret="mailer")
    for actor in (member, billing):
        with pytest.raises(NotPermitted):
            services.tenant_secret_set(tenant=acme, actor=actor, name="stripe-live", value="stolen")
        with pytest.raises(NotPermitted):
            services.tenant_secret_delete(tenant=acme, actor=actor, name="stripe-live")
        with pytest.raises(NotPermitted):
            services.env_link_secret(tenant=acme, actor=actor, name="blog", key="STRIPE_KEY", secret="stripe-live")
        # Every member may see which secrets exist and who uses them.
        assert [s["name"] for s in selectors.tenant_secrets(tenant=acme, actor=actor)] == ["mailer", "stripe-live"]
    assert secret_store().reveal(_reference(acme, "stripe-live")) == VALUE
    # A member may still give a linked var a value of its own, or remove it: that is the site's business.
    services.env_delete(tenant=acme, actor=member, name="blog", key="MAILER")


def test_tenant_b_cannot_reach_tenant_a_secrets(acme, owner, make_tenant):
    bravo = make_tenant(slug="bravo")
    b_owner = Actor.of_user(bravo.memberships.get(role=Role.OWNER).user)
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    reference = _reference(acme, "stripe-live")
    with pytest.raises(NotFound):
        selectors.tenant_secrets(tenant=acme, actor=b_owner)
    with pytest.raises(NotPermitted):
        services.tenant_secret_set(tenant=acme, actor=b_owner, name="stripe-live", value="stolen")
    with pytest.raises(NotPermitted):
        services.tenant_secret_delete(tenant=acme, actor=b_owner, name="stripe-live")
    # In B, A's secret does not exist: a link to it is a 404, and B's own list is empty.
    _ready(bravo, "bravo-blog")
    with pytest.raises(NotFound, match="No secret “stripe-live” here"):
        services.env_link_secret(tenant=bravo, actor=b_owner, name="bravo-blog", key="STRIPE_KEY", secret="stripe-live")
    with pytest.raises(NotFound):
        services.tenant_secret_delete(tenant=bravo, actor=b_owner, name="stripe-live")
    assert selectors.tenant_secrets(tenant=bravo, actor=b_owner) == []
    assert not selectors.tenant_secret_exists(tenant=bravo, name="stripe-live")
    with tenant_context(bravo):
        assert not SiteEnvVar.objects.exists()
    assert _reference(acme, "stripe-live") == reference


def test_deleting_the_tenant_forgets_its_secrets(acme, owner, forgotten, django_capture_on_commit_callbacks):
    _ready(acme, "blog")
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    services.env_link_secret(tenant=acme, actor=owner, name="blog", key="STRIPE_KEY", secret="stripe-live")
    reference = _reference(acme, "stripe-live")
    with django_capture_on_commit_callbacks(execute=True):
        services.sites_delete_all(tenant=acme)
    assert reference in forgotten
    with tenant_context(acme):
        assert not TenantSecret.objects.exists()


# --- The portal --------------------------------------------------------------------------------


def test_portal_sets_lists_and_deletes_with_a_confirmation(acme, client_for, caplog):
    caplog.set_level(logging.DEBUG)
    user = acme.memberships.get(role=Role.OWNER).user
    client = client_for(acme, user=user)
    page = client.get("/secrets/")
    assert page.status_code == 200 and "No secrets yet" in page.content.decode()
    assert 'type="password"' in page.content.decode()
    saved = client.post("/secrets/", {"name": "stripe-live", "value": VALUE}, follow=True)
    body = saved.content.decode()
    assert "Secret stripe-live saved" in body and "stripe-live" in body and VALUE not in body
    replaced = client.post("/secrets/", {"name": "stripe-live", "value": NEW_VALUE}, follow=True).content.decode()
    assert "replaced" in replaced and NEW_VALUE not in replaced

    refused = client.post("/secrets/", {"name": "Bad Name", "value": VALUE})
    assert refused.status_code == 400
    assert "lowercase letters" in refused.content.decode() and VALUE not in refused.content.decode()
    too_long = client.post("/secrets/", {"name": "long", "value": "x" * 9000})
    assert too_long.status_code == 400 and "x" * 9000 not in too_long.content.decode()

    # The site page links a var to a secret (a select of the secrets' names).
    client.post("/sites/", {"name": "blog"})
    site_page = client.get("/sites/blog/").content.decode()
    assert '<option value="stripe-live">' in site_page
    client.post("/sites/blog/env/", {"name": "STRIPE_KEY", "from_secret": "stripe-live"})
    site_page = client.get("/sites/blog/").content.decode()
    assert "from_secret: <code>stripe-live</code>" in site_page and selectors.MASK in site_page
    assert VALUE not in site_page and NEW_VALUE not in site_page
    assert "blog/STRIPE_KEY" in client.get("/secrets/").content.decode()

    # Deleting: a confirmation page first; while used, it says by whom and offers no button.
    confirm = client.get("/secrets/stripe-live/delete/").content.decode()
    assert "blog/STRIPE_KEY" in confirm and "cannot be deleted" in confirm
    still = client.post("/secrets/stripe-live/delete/", {"confirm": "stripe-live"}, follow=True).content.decode()
    assert "is used by blog&#x27;s STRIPE_KEY" in still
    client.post("/sites/blog/env/STRIPE_KEY/delete/")
    confirm = client.get("/secrets/stripe-live/delete/").content.decode()
    assert 'name="confirm" value="stripe-live"' in confirm
    assert client.post("/secrets/stripe-live/delete/").status_code == 200  # no confirmation: asks again
    assert selectors.tenant_secret_exists(tenant=acme, name="stripe-live")
    done = client.post("/secrets/stripe-live/delete/", {"confirm": "stripe-live"}, follow=True).content.decode()
    assert "Secret stripe-live deleted" in done
    assert not selectors.tenant_secret_exists(tenant=acme, name="stripe-live")
    assert client.get("/secrets/stripe-live/delete/").status_code == 404
    for record in caplog.records:
        seen = f"{record.getMessage()} {record.__dict__}"
        assert VALUE not in seen and NEW_VALUE not in seen


def test_portal_members_read_but_cannot_change(acme, owner, add_member, client_for):
    services.tenant_secret_set(tenant=acme, actor=owner, name="stripe-live", value=VALUE)
    client = client_for(acme, user=add_member(acme, Role.MEMBER))
    page = client.get("/secrets/").content.decode()
    assert "stripe-live" in page and "Set a secret" not in page and "Delete…" not in page
    assert client.post("/secrets/", {"name": "stripe-live", "value": "stolen"}).status_code == 403
    assert client.get("/secrets/stripe-live/delete/").status_code == 403
    assert client.post("/secrets/stripe-live/delete/", {"confirm": "stripe-live"}).status_code == 403
    client.post("/sites/", {"name": "blog"})
    assert "env-secret" not in client.get("/sites/blog/").content.decode()  # no secret to hand out
    client.post("/sites/blog/env/", {"name": "STRIPE_KEY", "from_secret": "stripe-live"})
    with tenant_context(acme):
        assert not SiteEnvVar.objects.exists()
    assert secret_store().reveal(_reference(acme, "stripe-live")) == VALUE


def test_portal_of_b_is_404_for_a(acme, make_tenant, client_for):
    bravo = make_tenant(slug="bravo")
    b_owner = Actor.of_user(bravo.memberships.get(role=Role.OWNER).user)
    services.tenant_secret_set(tenant=bravo, actor=b_owner, name="bravo-stripe", value=VALUE)
    a_user = acme.memberships.get(role=Role.OWNER).user
    on_b = client_for(bravo, user=a_user)
    assert on_b.get("/secrets/").status_code == 404
    assert on_b.post("/secrets/", {"name": "bravo-stripe", "value": "stolen"}).status_code == 404
    assert on_b.post("/secrets/bravo-stripe/delete/", {"confirm": "bravo-stripe"}).status_code == 404
    on_a = client_for(acme, user=a_user)
    assert on_a.post("/secrets/bravo-stripe/delete/", {"confirm": "bravo-stripe"}).status_code == 404
    assert "bravo-stripe" not in on_a.get("/secrets/").content.decode()
    assert secret_store().reveal(_reference(bravo, "bravo-stripe")) == VALUE
