"""`/api/v1/tenants/{tenant}/billing` and the budgets through the API: JSON and CSV, every grouping,
clear errors for bad input, and who may see what (a member's role, another tenant's key, a removed
member's key, staff)."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Budget
from billing.tests.factories import cost
from tenants import services as tenant_services
from tenants.audit import Actor
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
URL = "/api/v1/tenants/{}/billing"


@pytest.fixture
def acme(tenant):
    for n in range(1, 4):
        cost(tenant, date(2026, 10, n), "2.00", site=(7, "blog"))
        cost(tenant, date(2026, 10, n), "0.50", site=(8, "shop"), service="Cloud Storage")
    cost(tenant, date(2026, 10, 2), "0.30", service="AIPress assistant")
    cost(tenant, date(2026, 11, 1), "9.00", site=(7, "blog"))
    return tenant


def _get(client, tenant, **query):
    return client.get(URL.format(tenant.slug), query)


def test_grouped_by_day_month_site_and_service(acme, client_for, api_key_for):
    client = client_for(acme, key=api_key_for(acme, Role.BILLING))
    by_day = _get(client, acme, start="2026-10-01", end="2026-10-31").json()
    assert [(row["day"], row["net"]) for row in by_day["rows"]] == [
        ("2026-10-01", "2.500000"), ("2026-10-02", "2.800000"), ("2026-10-03", "2.500000"),
    ]  # fmt: skip
    assert by_day["totals"] == {"USD": {"gross": "7.800000", "credits": "0.000000", "net": "7.800000"}}
    by_site = _get(client, acme, start="2026-10-01", end="2026-11-30", group_by="site").json()
    assert [(row["site"], row["net"]) for row in by_site["rows"]] == [
        ("blog", "15.000000"), ("shop", "1.500000"), ("", "0.300000"),
    ]  # fmt: skip
    by_service = _get(client, acme, start="2026-10-01", end="2026-10-31", group_by="service").json()
    assert [row["service"] for row in by_service["rows"]] == ["Cloud Run", "Cloud Storage", "AIPress assistant"]
    by_month = _get(client, acme, start="2026-10-01", end="2026-11-30", group_by="month").json()
    assert [(row["month"], row["net"]) for row in by_month["rows"]] == [
        ("2026-10", "7.800000"), ("2026-11", "9.000000"),
    ]  # fmt: skip
    assert by_month["site_labelled_share"] == "0.9821"  # 0.30 of 16.80 carried no site label


def test_csv_by_accept_header_or_format_parameter(acme, client_for, api_key_for):
    client = client_for(acme, key=api_key_for(acme))
    for response in (
        client.get(URL.format("acme"), {"start": "2026-10-01", "end": "2026-10-31", "group_by": "site"},
                   HTTP_ACCEPT="text/csv"),
        _get(client, acme, start="2026-10-01", end="2026-10-31", group_by="site", format="csv"),
    ):  # fmt: skip
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == ["site", "currency", "gross", "credits", "net"]
        assert rows[1] == ["blog", "USD", "6.000000", "0.000000", "6.000000"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"start": "2026-10-32"}, "start", "not a date"),
        ({"start": "yesterday"}, "start", "YYYY-MM-DD"),
        ({"start": "2026-10-05", "end": "2026-10-01"}, "end", "reversed"),
        ({"start": "2025-01-01", "end": "2026-10-01"}, "end", "366 days"),
        ({"group_by": "week"}, "group_by", "day, month, site, service"),
    ],
)
def test_bad_input_is_a_problem_that_says_what_to_fix(acme, client_for, api_key_for, query, field, words):
    client = client_for(acme, key=api_key_for(acme))
    response = _get(client, acme, **query)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert words in body["errors"][0]["message"]
    # The same problem JSON when CSV was asked for.
    as_csv = _get(client, acme, format="csv", **query)
    assert as_csv.status_code == 400 and as_csv.json()["errors"] == body["errors"]


def test_roles_other_tenants_and_removed_members(acme, make_tenant, client_for, api_key_for, add_member):
    globex = make_tenant(slug="globex")
    cost(globex, date(2026, 10, 1), "123.00")
    member = add_member(acme, Role.MEMBER)
    assert _get(client_for(acme, user=member), acme).status_code == 403
    assert _get(client_for(acme, key=api_key_for(acme, Role.MEMBER)), acme).status_code == 403
    assert _get(client_for(acme, user=acme.memberships.get(role=Role.OWNER).user), acme).status_code == 200
    for role in (Role.ADMIN, Role.BILLING):
        assert _get(client_for(acme, key=api_key_for(acme, role)), acme).status_code == 200
    # Another tenant's key, on any host, never reaches acme's costs: 404, as if it did not exist.
    foreign = client_for(acme, key=api_key_for(globex))
    assert _get(foreign, acme).status_code == 404
    own = _get(foreign, globex, start="2026-10-01", end="2026-10-31").json()
    assert own["totals"]["USD"]["net"] == "123.000000"
    # A member's key stops working when they are removed.
    accountant = add_member(acme, Role.ADMIN)
    _, raw = tenant_services.api_key_create(actor=Actor.of_user(accountant), tenant=acme, name="books", role=Role.ADMIN)
    assert _get(client_for(acme, key=raw), acme).status_code == 200
    tenant_services.membership_remove(
        actor=Actor.of_user(acme.memberships.get(role=Role.OWNER).user),
        membership=acme.memberships.get(user=accountant),
    )
    assert _get(client_for(acme, key=raw), acme).status_code in (401, 404)
    # Anonymous: no costs.
    assert _get(client_for(acme), acme).status_code in (401, 403)


def test_staff_see_any_tenant_from_the_public_host(acme, client_for, api_key_for):
    staff = UserFactory(is_staff=True)
    _, staff_key = tenant_services.api_key_create(actor=Actor.of_user(staff), tenant=None, name="ops")
    body = _get(client_for(None, key=staff_key), acme, start="2026-10-01", end="2026-10-31").json()
    assert body["tenant"] == "acme" and body["totals"]["USD"]["net"] == "7.800000"
    assert _get(client_for(None, key=staff_key), acme.__class__(slug="nobody")).status_code == 404
    # A tenant's key on the public host is routed to its own tenant: still no other tenant's costs.
    assert client_for(None, user=UserFactory()).get(URL.format("acme")).status_code == 404


def test_budgets_set_read_and_removed_through_the_api(acme, client_for, api_key_for):
    from django_tenants.utils import tenant_context

    from sites.models import Site

    with tenant_context(acme):
        Site.objects.create(slug="blog", title="Blog", runtime="memory", status="ready")
    today = timezone.now().date()
    cost(acme, today, "40.00")
    owner_client = client_for(acme, user=acme.memberships.get(role=Role.OWNER).user)
    answer = owner_client.put("/api/v1/tenants/acme/budget", {"amount": "50.00"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "site": None, "amount": "50.00", "currency": "USD", "action": "notify",
        "spent_this_month": "40.000000", "percent": 80,
    }  # fmt: skip
    site_budget = owner_client.put("/api/v1/tenants/acme/budgets/blog", {"amount": 20, "action": "cap"}, format="json")
    assert site_budget.status_code == 200 and site_budget.json()["action"] == "cap"
    listed = owner_client.get("/api/v1/tenants/acme/budgets/").json()
    assert [(b["site"], b["amount"]) for b in listed] == [(None, "50.00"), ("blog", "20.00")]
    # A billing member may set amounts, but a budget that acts on a site (or would) is an owner's or
    # an admin's: raising it could lift a suspension.
    billing = client_for(acme, key=api_key_for(acme, Role.BILLING))
    refused = billing.put("/api/v1/tenants/acme/budgets/blog", {"amount": 30, "action": "suspend"}, format="json")
    assert refused.status_code == 403
    assert billing.put("/api/v1/tenants/acme/budgets/blog", {"amount": 30}, format="json").status_code == 403
    assert billing.put("/api/v1/tenants/acme/budget", {"amount": 60}, format="json").status_code == 200
    # Left out, the action stays what it was.
    kept = owner_client.put("/api/v1/tenants/acme/budgets/blog", {"amount": 25}, format="json").json()
    assert (kept["amount"], kept["action"]) == ("25.00", "cap")
    member = client_for(acme, key=api_key_for(acme, Role.MEMBER))
    assert member.put("/api/v1/tenants/acme/budget", {"amount": 10}, format="json").status_code == 403
    bad = owner_client.put("/api/v1/tenants/acme/budget", {"amount": "-5"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "amount"
    missing = owner_client.put("/api/v1/tenants/acme/budgets/nosuch", {"amount": 5}, format="json")
    assert missing.status_code == 404
    assert Budget.objects.get(tenant=acme, site_id__isnull=True).amount == Decimal("60.00")
    assert owner_client.delete("/api/v1/tenants/acme/budget").status_code == 204
    assert owner_client.delete("/api/v1/tenants/acme/budget").status_code == 404
    assert list(Budget.objects.filter(tenant=acme).values_list("site_slug", flat=True)) == ["blog"]


def test_csv_never_hands_a_spreadsheet_a_formula(acme, client_for, api_key_for):
    cost(acme, date(2026, 10, 1), "1.00", service='=HYPERLINK("http://evil.example","x")')
    client = client_for(acme, key=api_key_for(acme))
    response = _get(client, acme, start="2026-10-01", end="2026-10-31", group_by="service", format="csv")
    cells = [row[0] for row in csv.reader(io.StringIO(response.content.decode()))]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert not any(cell.startswith("=") for cell in cells)
