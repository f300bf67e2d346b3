"""The assistant's monthly token quota per tenant: reserve before a model call, settle after, release
on failure.

The counter of a tenant's month lives in Redis (settled tokens plus what calls in flight reserved), so
concurrent turns cannot overspend: a reservation is refused unless it fits, in one atomic script. The
database (AiUsage) is the record; when the counter is missing (a new month, a Redis restart) it is
seeded from the month's rows. A reservation lost with a Redis restart is forgotten, never charged.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from billing.models import AiQuotaNotice, AiUsage
from kernel.errors import ServiceError
from tenants.audit import Actor, audit_record
from tenants.models import Role, Tenant, User

NOTICE_LEVELS = (80, 100)

# KEYS[1]: the month's counter. ARGV: tokens wanted, the quota. Answers the new total, or -1 when the
# tokens do not fit (nothing is reserved then).
_RESERVE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class QuotaExhausted(ServiceError):
    """The tenant's assistant tokens for this month are used up (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Reservation:
    tenant_id: int | None
    month: date
    tokens: int
    open: bool = True


def _month_of(moment: datetime | None = None) -> date:
    moment = moment or datetime.now(UTC)
    return date(moment.year, moment.month, 1)


def _seconds_to_next_month(moment: datetime | None = None) -> int:
    moment = moment or datetime.now(UTC)
    following = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return max(1, int((following - moment).total_seconds()))


def _counter(tenant_id: int, month: date) -> str:
    return cache.make_key(f"ai-quota:{tenant_id}:{month:%Y%m}")


def _client() -> Any:
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]  # Django's Redis client: a script


def used_tokens(tenant: Tenant, month: date | None = None) -> int:
    """Tokens settled in the tenant's month (the record, not the counter)."""
    month = month or _month_of()
    totals = AiUsage.objects.filter(tenant=tenant, month=month).aggregate(total=Sum(F("tokens_in") + F("tokens_out")))
    return int(totals["total"] or 0)


def _seed(client: Any, key: str, tenant: Tenant, month: date) -> None:
    if not client.exists(key):
        # NX: when two processes seed at once, the first wins and both read the same rows anyway.
        client.set(key, used_tokens(tenant, month), nx=True, ex=_seconds_to_next_month() + 86_400)


def quota_reserve(*, tenant: Tenant | None, tokens: int) -> Reservation:
    """Reserve `tokens` of the tenant's month, or raise QuotaExhausted. Staff conversations that act in
    no tenant have no quota (they are the platform's own)."""
    month = _month_of()
    if tenant is None:
        return Reservation(tenant_id=None, month=month, tokens=tokens)
    client = _client()
    key = _counter(tenant.pk, month)
    _seed(client, key, tenant, month)
    total = int(client.eval(_RESERVE, 1, key, max(0, tokens), tenant.ai_monthly_tokens))
    if total < 0:
        raise QuotaExhausted(
            f"This month's assistant quota of {tenant.ai_monthly_tokens:,} tokens is used up for "
            f"{tenant.slug}. It renews on the 1st; the portal, the API and the CLI still work.",
            retry_after=_seconds_to_next_month(),
        )
    return Reservation(tenant_id=tenant.pk, month=month, tokens=tokens)


def quota_release(reservation: Reservation) -> None:
    """The call failed: give the reserved tokens back."""
    if not reservation.open:
        return
    reservation.open = False
    if reservation.tenant_id is not None:
        _client().decrby(_counter(reservation.tenant_id, reservation.month), reservation.tokens)


def _price(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    prices = settings.AI_PRICES.get(model) or settings.AI_PRICES.get("default", {})
    per_million_in = Decimal(str(prices.get("in", 0)))
    per_million_out = Decimal(str(prices.get("out", 0)))
    return (per_million_in * tokens_in + per_million_out * tokens_out) / Decimal(1_000_000)


def quota_settle(
    *,
    reservation: Reservation,
    tenant: Tenant | None,
    user: User | None,
    model: str,
    tokens_in: int,
    tokens_out: int,
) -> AiUsage:
    """Record what the call really used, and replace the reservation by it on the counter."""
    used = max(0, tokens_in) + max(0, tokens_out)
    total = None
    if reservation.open and reservation.tenant_id is not None:
        total = int(_client().incrby(_counter(reservation.tenant_id, reservation.month), used - reservation.tokens))
    reservation.open = False
    usage = AiUsage.objects.create(
        tenant=tenant,
        user=user,
        model=model,
        tokens_in=max(0, tokens_in),
        tokens_out=max(0, tokens_out),
        cost=_price(model, tokens_in, tokens_out),
        month=reservation.month,
    )
    if tenant is not None and total is not None:
        _notify_owners_once(tenant, reservation.month, total)
    return usage


def _notify_owners_once(tenant: Tenant, month: date, total: int) -> None:
    quota = max(1, tenant.ai_monthly_tokens)
    for percent in NOTICE_LEVELS:
        if total * 100 < quota * percent:
            continue
        try:
            with transaction.atomic():
                AiQuotaNotice.objects.create(tenant=tenant, month=month, percent=percent)
        except IntegrityError:
            continue  # told already
        owners = list(tenant.memberships.filter(role=Role.OWNER).values_list("user__email", flat=True))
        subject = f"{tenant.name}: {percent}% of this month's assistant quota is used"
        body = (
            f"{tenant.name} ({tenant.slug}) has used {total:,} of its {quota:,} assistant tokens this month "
            f"({percent}%). "
            + (
                "The assistant stops answering until the 1st; everything else keeps working."
                if percent >= 100
                else "At 100% the assistant stops answering until the 1st."
            )
        )
        audit_record(
            actor=Actor.system("ai quota"), action=f"ai.quota.{percent}", tenant=tenant, used=total, quota=quota
        )
        transaction.on_commit(partial(send_mail, subject, body, None, owners, fail_silently=True))
