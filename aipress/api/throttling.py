"""One throttle with two budgets: each API key, signed-in user or anonymous address has its own, and
each tenant one for all of its keys and members together, so minting keys never multiplies the rate.

Both are counted in one Redis round trip (INCR and EXPIRE of a counter per fixed window, pipelined),
where DRF's own throttle read and rewrote a list of every request's timestamp, per budget. A fixed
window lets a caller use a whole budget at the end of one window and again at the start of the next.
"""

import time
from typing import TYPE_CHECKING

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from kernel.client_address import client_ip

if TYPE_CHECKING:  # importing rest_framework.views here would be circular: DRF imports us from it
    from rest_framework.views import APIView


class ApiThrottle(SimpleRateThrottle):
    """Rates from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]: "key_or_user" and "tenant"."""

    scope = "key_or_user"
    clock = staticmethod(time.time)  # tests pin it, so a window never turns over in the middle of one

    def __init__(self) -> None:  # DRF's reads one rate at construction; this throttle has two
        self._retry_after: float | None = None

    def get_ident(self, request: Request) -> str:
        # DRF would believe any X-Forwarded-For; we believe it only from TRUSTED_PROXIES.
        return client_ip(request) or "unknown"

    def _caller(self, request: Request) -> str:
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "prefix"):
            return f"key:{api_key.pk}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{self.get_ident(request)}"

    def _budgets(self, request: Request) -> list[tuple[str, int, int]]:
        """(counter name, requests allowed, window in seconds) of each budget this request spends."""
        budgets = [("key_or_user", self._caller(request))]
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            budgets.append(("tenant", f"tenant:{tenant.pk}"))
        found = []
        for scope, ident in budgets:
            rate = self.THROTTLE_RATES.get(scope)
            if rate is None:
                continue
            allowed, window = self.parse_rate(rate)
            if allowed is None or window is None:
                continue
            found.append((f"throttle:{scope}:{ident}", allowed, window))
        return found

    def allow_request(self, request: Request, view: "APIView") -> bool:
        budgets = self._budgets(request)
        if not budgets:
            return True
        now = self.clock()
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]  # Django's Redis client, for a pipeline
        pipe = client.pipeline(transaction=False)
        for name, _, window in budgets:
            key = cache.make_key(f"{name}:{int(now // window)}")
            pipe.incr(key)
            pipe.expire(key, window + 1)
        counts = pipe.execute()[::2]
        spent = [
            window - now % window
            for (_, allowed, window), count in zip(budgets, counts, strict=True)
            if count > allowed
        ]
        self._retry_after = max(spent) if spent else None
        if spent:
            # A refused request spends nothing: a key over its own budget must not drain its tenant's.
            undo = client.pipeline(transaction=False)
            for name, _, window in budgets:
                undo.decr(cache.make_key(f"{name}:{int(now // window)}"))
            undo.execute()
        return not spent

    def wait(self) -> float | None:
        return self._retry_after
