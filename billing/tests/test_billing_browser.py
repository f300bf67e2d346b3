"""The Billing page in a real browser (Debian's Chromium, driven by Playwright) against the real ASGI
stack: the month's figures, the daily chart drawn by Chart.js from npm with the same numbers as the
table, a budget set through the form, and no accessibility violation axe-core can find."""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import Budget
from billing.tests.factories import cost
from tenants.models import Role
from tenants.tests.test_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme_session(make_tenant: Any, client_for: Any) -> tuple[Any, str]:
    """Made before the browser starts: Playwright's event loop forbids what tenant creation sends."""
    acme = make_tenant(slug="acme")
    today = timezone.now().date()
    first = today.replace(day=1)
    for n in range((today - first).days + 1):
        cost(acme, first + timedelta(days=n), f"{n + 1}.00", site=(7, "blog"))
    cost(acme, first, "0.50", service="AIPress assistant")
    owner = acme.memberships.get(role=Role.OWNER).user
    return acme, client_for(acme, user=owner).cookies[settings.SESSION_COOKIE_NAME].value


def test_the_month_its_chart_and_a_budget(acme_session, platform, page):
    from playwright.sync_api import expect

    acme, session = acme_session
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session, "domain": f".{settings.PLATFORM_DOMAIN}"}
    page.context.add_cookies([{**cookie, "path": "/"}])
    page.goto(platform.replace("://", "://acme.") + "/")
    page.get_by_role("link", name="Billing", exact=True).click()
    expect(page.get_by_role("heading", name="Billing", level=1)).to_be_visible()

    today = timezone.now().date()
    days = today.day
    month_to_date = sum(range(1, days + 1)) + 0.5
    expect(page.get_by_test_id("month-to-date")).to_have_text(f"{month_to_date:.2f} USD")
    expect(page.get_by_test_id("by-site")).to_contain_text("blog")
    expect(page.get_by_test_id("by-service")).to_contain_text("AIPress assistant")

    # Chart.js (not a hand-drawn picture) drew one bar per day with the page's figures.
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('cost-chart'))")
    drawn = page.evaluate(
        "() => { const chart = Chart.getChart(document.getElementById('cost-chart'));"
        " return {type: chart.config.type, labels: chart.data.labels.length, values: chart.data.datasets[0].data,"
        " width: chart.width}; }"
    )
    assert drawn["type"] == "bar" and drawn["labels"] == days and drawn["width"] > 100
    assert drawn["values"] == [n + 1 + (0.5 if n == 0 else 0) for n in range(days)]
    assert page.evaluate("() => [...document.scripts].some(s => s.src.includes('/static/vendor/chart.js/'))")

    page.get_by_label("Monthly amount (USD)").fill("250")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_test_id("budgets")).to_contain_text("250.00 USD")
    assert Budget.objects.get(tenant=acme, site_id__isnull=True).amount == 250
    assert_accessible(page)
