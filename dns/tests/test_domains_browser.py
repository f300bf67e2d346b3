"""Domains on the site page in a real browser (Debian's Chromium, driven by Playwright) against the
real ASGI stack, a real Celery worker and the local DNS server: add a domain, copy a record, create
the records, and watch the status turn active live, without reloading the page."""

import threading
from typing import Any

import pytest
from django.conf import settings

from dns import services, zones
from dns.models import CustomDomain
from kernel.testing import wait_until
from sites.tests.factories import requested_site
from tenants.audit import Actor
from tenants.models import Role
from tenants.tests.test_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOMAIN = "www.their-shop.test"


@pytest.fixture
def acme_session(settings: Any, make_tenant: Any, client_for: Any) -> tuple[Any, str]:
    """Made before the browser starts: Playwright's event loop forbids what tenant creation sends."""
    from sites.runtimes import memory

    # The worker thread runs the pipeline in this process: the in-memory runtime is shared with it.
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    acme = make_tenant(slug="acme")
    requested_site(acme, "shop")
    owner = acme.memberships.get(role=Role.OWNER).user
    return acme, client_for(acme, user=owner).cookies[settings.SESSION_COOKIE_NAME].value


def test_a_domain_is_added_copied_and_turns_active_live(acme_session, platform, celery_worker_thread, dns_server, page):
    from playwright.sync_api import expect

    acme, session = acme_session
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session,
                "domain": f".{settings.PLATFORM_DOMAIN}",
                "path": "/",
            }
        ]
    )
    page.goto(platform.replace("://", "://acme.") + "/sites/shop/")
    expect(page.locator("#site .status")).to_have_text("Ready", timeout=30_000)
    panel = page.locator("#domains")
    expect(panel).to_contain_text("No domain of your own yet")

    page.get_by_label("Add a domain you hold").fill(DOMAIN)
    page.get_by_role("button", name="Add domain").click()
    card = panel.locator(f'[data-domain="{DOMAIN}"]')
    expect(card.locator(".domain-status")).to_have_text("Pending")
    token = CustomDomain.objects.get(hostname=DOMAIN).token
    page.get_by_role("button", name=f"Copy the value {token}").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert_accessible(page)

    # At the registrar, then "check now" from elsewhere (the API, the chat): this page just listens.
    zones.operator_record_set(name=f"_aipress-challenge.{DOMAIN}", type="TXT", content=token)
    zones.operator_record_set(name=DOMAIN, type="CNAME", content="shop--acme.sites.localhost")
    owner = acme.memberships.get(role=Role.OWNER).user
    # In a thread of its own: what it publishes on commit cannot run inside Playwright's event loop.
    asking = threading.Thread(
        target=services.domain_verify_request,
        kwargs={"tenant": acme, "actor": Actor.of_user(owner), "domain": DOMAIN},
    )
    asking.start()
    asking.join(timeout=30)
    wait_until(lambda: CustomDomain.objects.get(hostname=DOMAIN).status == "active", timeout=60, what="active")
    expect(card.locator(".domain-status")).to_have_text("Active", timeout=20_000)
    expect(card.locator(".check-ownership")).to_contain_text("OK")
    expect(card.locator(".check-certificate")).to_contain_text("Not needed")
