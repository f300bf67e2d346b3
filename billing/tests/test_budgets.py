"""Budgets and anomalies against the real database and a real Celery worker (the emails are queued):
one email per level and month whatever runs again, the recipients are owners and billing members,
and an unusual day raises one alert, without months of history."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from billing import services
from billing.models import Budget, BudgetNotice, CostAlert
from billing.tests.factories import cost
from kernel.errors import InvalidInput, NotFound, NotPermitted
from kernel.testing import wait_until
from tenants.audit import Actor
from tenants.models import AuditEvent, Role

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 10, 20)


@pytest.fixture
def acme(tenant, add_member):
    add_member(tenant, Role.BILLING)
    add_member(tenant, Role.MEMBER)
    return tenant


def _owner(tenant):
    return tenant.memberships.get(role=Role.OWNER).user


def test_notices_at_80_and_100_percent_once_each_to_owners_and_billing(acme, celery_worker_thread, settings):
    mail.outbox.clear()
    services.budget_set(tenant=acme, actor=Actor.of_user(_owner(acme)), amount="100")
    cost(acme, date(2026, 10, 1), "50.00")
    assert services.budgets_evaluate(today=TODAY).notices == 0
    cost(acme, date(2026, 10, 2), "35.00")
    assert services.budgets_evaluate(today=TODAY).notices == 1  # 85%
    assert services.budgets_evaluate(today=TODAY).notices == 0  # told already
    cost(acme, date(2026, 10, 3), "20.00")
    assert services.budgets_evaluate(today=TODAY).notices == 1  # 105%
    services.budgets_evaluate(today=TODAY)
    wait_until(lambda: len(mail.outbox) >= 2, timeout=30, what="the two budget emails")
    subjects = sorted(message.subject for message in mail.outbox)
    assert len(mail.outbox) == 2
    assert "100% of the October budget" in subjects[0] and "80% of the October budget" in subjects[1]
    recipients = set(mail.outbox[0].to)
    owners_and_billing = set(
        acme.memberships.filter(role__in=[Role.OWNER, Role.BILLING]).values_list("user__email", flat=True)
    )
    assert recipients == owners_and_billing and len(recipients) == 2  # the plain member is not told
    full = next(message for message in mail.outbox if "100%" in message.subject)
    assert "105.00 USD" in full.body and "/billing/" in full.body
    # Next month starts over.
    cost(acme, date(2026, 11, 1), "90.00")
    assert services.budgets_evaluate(today=date(2026, 11, 2)).notices == 1
    assert BudgetNotice.objects.filter(budget__tenant=acme).count() == 3
    assert AuditEvent.objects.filter(tenant=acme, action="billing.budget.100").count() == 1


def test_a_budget_needs_a_sensible_amount_and_a_role(acme, add_member):
    owner = Actor.of_user(_owner(acme))
    for amount, words in (("0", "above 0"), ("-3", "above 0"), ("abc", "not a number"), ("1.234", "two decimals")):
        with pytest.raises(InvalidInput, match=words):
            services.budget_set(tenant=acme, actor=owner, amount=amount)
    member = Actor.of_user(acme.memberships.get(role=Role.MEMBER).user)
    with pytest.raises(NotPermitted):
        services.budget_set(tenant=acme, actor=member, amount="10")
    with pytest.raises(InvalidInput, match="only a site's budget"):
        services.budget_set(tenant=acme, actor=owner, amount="10", action="suspend")
    with pytest.raises(NotFound):
        services.budget_set(tenant=acme, actor=owner, amount="10", site="nosuch")
    assert not Budget.objects.filter(tenant=acme).exists()


def test_an_unusual_day_raises_one_alert_and_one_email(acme, celery_worker_thread):
    mail.outbox.clear()
    site = (7, "blog")
    for n in range(1, 5):  # four ordinary days are history enough
        cost(acme, TODAY - timedelta(days=n), "2.00", site=site)
        cost(acme, TODAY - timedelta(days=n), "0.30", service="AIPress assistant")  # no site: the tenant's
    cost(acme, TODAY, "0.50", site=(8, "shop"))
    assert services.anomalies_detect(day=TODAY) == 0  # cents never alarm, and blog is quiet today
    cost(acme, TODAY, "9.00", site=site)
    assert services.anomalies_detect(day=TODAY) == 2  # the site, and the tenant as a whole
    assert services.anomalies_detect(day=TODAY) == 0
    alert = CostAlert.objects.get(tenant=acme, site_label="7")
    assert (alert.site_slug, alert.cost, alert.baseline) == ("blog", Decimal("9.00"), Decimal("2.00"))
    whole = CostAlert.objects.get(tenant=acme, site_label="")
    assert (whole.cost, whole.baseline) == (Decimal("9.50"), Decimal("2.30"))  # the assistant's 0.30 once
    wait_until(lambda: len(mail.outbox) >= 2, timeout=30, what="the alert emails")
    assert any("blog cost 9.00 USD" in message.body for message in mail.outbox)
    # Three times a baseline of cents stays under the floor: no alert for a new tiny site.
    cost(acme, TODAY - timedelta(days=1), "0.10", site=(9, "tiny"))
    cost(acme, TODAY - timedelta(days=2), "0.10", site=(9, "tiny"))
    cost(acme, TODAY - timedelta(days=3), "0.10", site=(9, "tiny"))
    cost(acme, TODAY, "0.90", site=(9, "tiny"))
    services.anomalies_detect(day=TODAY)
    assert not CostAlert.objects.filter(site_label="9").exists()
