"""The assistant's monthly quota, against the real Redis and PostgreSQL: reservations that cannot
overspend under concurrency, a counter rebuilt from the record, prices from settings."""

import threading
from decimal import Decimal

import pytest
from django.core.cache import cache

from billing import ai_quota
from billing.ai_quota import QuotaExhausted, quota_release, quota_reserve, quota_settle
from billing.models import AiUsage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant(slug="acme")
    tenant.ai_monthly_tokens = 1000
    tenant.save(update_fields=["ai_monthly_tokens"])
    return tenant


def test_concurrent_reservations_never_add_up_to_more_than_the_quota(acme):
    from django.db import connection

    granted, refused = [], []
    start = threading.Barrier(10)

    def turn():
        start.wait()
        try:
            granted.append(quota_reserve(tenant=acme, tokens=150))
        except QuotaExhausted:
            refused.append(1)
        finally:
            connection.close()  # this thread's own connection, back to the pool

    threads = [threading.Thread(target=turn) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(granted), len(refused)) == (6, 4)  # 6 × 150 fit in 1000, a 7th would not
    for reservation in granted:
        quota_release(reservation)
        quota_release(reservation)  # twice gives back once
    assert quota_reserve(tenant=acme, tokens=1000).tokens == 1000


def test_a_lost_counter_is_rebuilt_from_the_record(acme):
    reservation = quota_reserve(tenant=acme, tokens=500)
    quota_settle(reservation=reservation, tenant=acme, user=None, model="local", tokens_in=700, tokens_out=100)
    # Redis restarted: the counter is gone; the month's rows still say 800 were used.
    cache._cache.get_client(write=True).delete(ai_quota._counter(acme.pk, reservation.month))
    with pytest.raises(QuotaExhausted) as refused:
        quota_reserve(tenant=acme, tokens=300)
    assert refused.value.retry_after > 0
    assert quota_reserve(tenant=acme, tokens=200).tokens == 200


def test_usage_is_priced_from_settings(acme, settings):
    settings.AI_PRICES = {"gemini-2.5-flash": {"in": 0.30, "out": 2.50}}
    reservation = quota_reserve(tenant=acme, tokens=10)
    usage = quota_settle(
        reservation=reservation, tenant=acme, user=None, model="gemini-2.5-flash", tokens_in=1_000, tokens_out=200
    )
    assert usage.cost == Decimal("0.000800")  # 1000 × 0.30/1M + 200 × 2.50/1M
    assert AiUsage.objects.get().tokens == 1200
