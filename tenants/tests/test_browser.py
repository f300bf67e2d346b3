"""The sign-up journey in a real browser (Debian's Chromium, driven by Playwright) across the public
host and the new tenant's host: sign up, verify the email, name the organisation, land signed in."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.core import mail

from tenants.models import Tenant, TenantStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"]}});
  return result.violations.map(
    v => ({rule: v.id, impact: v.impact, where: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""
CHROMIUM_ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page():
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail("Debian package chromium is missing: `make test` installs it")
        pytest.skip("Debian package chromium is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary blocking calls, which Django allows with this flag.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(20_000)
        new_page = context.new_page()
        new_page.requested = []
        new_page.on("request", lambda request: new_page.requested.append(request.url))
        yield new_page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def assert_accessible(page) -> None:
    """No WCAG 2.1 A/AA violation that axe-core can find (labels, contrast, names, landmarks...)."""
    assert AXE.exists(), "axe-core is missing: run `npm ci` (make test does)"
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(AXE_RUN)
    assert violations == [], f"{page.url}: {violations}"


def _create_a_site_and_watch_it_come_up(page) -> None:
    """A site from the portal: the steps arrive live over the websocket until it is ready."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Sites", exact=True).click()
    assert_accessible(page)
    page.get_by_label("Name").fill("bakery")
    page.get_by_label("Title").fill("Crumbs Bakery Shop")
    page.get_by_role("button", name="Create site").click()
    expect(page.locator("#admin-password")).to_be_visible()
    expect(page.locator("#site .status")).to_have_text("Ready", timeout=60_000)
    expect(page.locator("#timeline")).to_contain_text("health: succeeded")
    assert_accessible(page)
    try:
        home = page.locator("#site a").first.get_attribute("href")
        assert re.match(r"^http://bakery--crumbs\.sites\.localhost:\d+/$", home)
        page.goto(home)
        expect(page).to_have_title(re.compile("Crumbs Bakery Shop"))
    finally:
        _remove_sites("crumbs")


def _remove_sites(tenant_slug: str) -> None:
    from django_tenants.utils import tenant_context

    from sites import pipeline
    from sites.models import Site
    from sites.runtimes.local.runtime import LocalRuntime
    from sites.tests.conftest import tear_down

    tenant = Tenant.objects.get(slug=tenant_slug)
    with tenant_context(tenant):
        for site in Site.objects.all():
            tear_down(LocalRuntime(), pipeline.site_spec(site=site, tenant=tenant))


def _verification_code() -> str:
    body = str(mail.outbox[-1].body)
    match = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", body, re.MULTILINE)
    assert match, body
    return match.group(1)


def test_sign_up_verify_name_organisation_and_land_in_its_portal(page, platform, celery_worker_thread, site_daemons):
    from playwright.sync_api import expect

    page.goto(platform + "/")
    assert_accessible(page)
    page.get_by_role("link", name="Get started").click()
    assert_accessible(page)
    page.get_by_label("Email:").fill("baker@crumbs.test")
    page.get_by_label("Password:", exact=True).fill("flour-water-salt-42")
    page.get_by_label("Password (again):").fill("flour-water-salt-42")
    page.get_by_role("button", name="Sign Up").click()

    code = page.get_by_label("Code:")
    expect(code).to_be_visible()
    assert_accessible(page)
    code.fill(_verification_code())
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(r"/onboarding/$"))
    assert_accessible(page)
    page.get_by_label("Organisation name").fill("Crumbs Bakery")
    # The address is suggested from the name and checked as it is typed.
    expect(page.get_by_label("Address")).to_have_value("crumbs-bakery")
    expect(page.locator("#slug-status")).to_have_text("Available.")
    page.get_by_label("Address").fill("admin")
    expect(page.locator("#slug-status")).to_contain_text("reserved")
    page.get_by_label("Address").fill("crumbs")
    expect(page.locator("#slug-status")).to_have_text("Available.")
    page.get_by_role("button", name="Create organisation").click()

    tenant_url = platform.replace("://", "://crumbs.") + "/"
    page.wait_for_url(tenant_url)
    # "Preparing your workspace" gives way to the portal when the websocket reports the tenant
    # active (the page reloads itself): no polling, so this also proves the live update.
    expect(page.get_by_role("heading", name="Crumbs Bakery", level=1)).to_be_visible(timeout=30_000)
    assert not [url for url in page.requested if url.endswith("/status.json")], "fell back to polling"
    assert_accessible(page)
    expect(page.get_by_role("navigation", name="Account")).to_contain_text("baker@crumbs.test")
    assert Tenant.objects.get(slug="crumbs").status == TenantStatus.ACTIVE

    # The navigation works on the tenant host, signed in.
    page.get_by_role("link", name="Team", exact=True).click()
    expect(page.get_by_role("cell", name="baker@crumbs.test (you)")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("CI deploys")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("aip_")
    assert_accessible(page)

    _create_a_site_and_watch_it_come_up(page)
