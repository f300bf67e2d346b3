"""The staff console's cost overview: the top organisations this month beside last month, and the cost
that no tenant label accounts for; members of a tenant get no access."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CostRecord
from billing.selectors import previous_month
from billing.tests.factories import cost
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/billing/costrecord/"


def test_top_tenants_month_over_month_and_unattributed(make_tenant, client_for):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    today = timezone.now().date()
    cost(acme, today, "12.00")
    cost(globex, today, "40.00")
    cost(globex, previous_month(today), "20.00")
    CostRecord.objects.create(
        tenant=None, tenant_label="", service="Cloud SQL", day=today, currency="USD",
        gross=Decimal("7.25"), credits=Decimal(0), net=Decimal("7.25"),
    )  # fmt: skip
    staff = client_for(None, user=UserFactory(is_staff=True, is_superuser=True))
    page = staff.get(URL).content.decode()
    assert page.index("globex (Globex)") < page.index("acme (Acme)")  # the costlier first
    assert "40.00 USD" in page and "20.00 USD" in page  # this month beside last month
    assert "Cloud SQL" in page and "7.25 USD" in page  # unattributed, by service
    assert "All cost this month: 59.25 USD, of which 52.00 USD attributed" in page


def test_a_tenant_member_cannot_open_it(tenant, client_for):
    owner = tenant.memberships.first().user
    assert client_for(None, user=owner).get(URL).status_code == 302  # to the staff sign-in
