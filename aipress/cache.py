"""Django's Redis cache with one connection pool per process instead of one per cache object.

Django keeps cache objects per async context, and under ASGI every request is a new context: with
the stock backend each request built a pool and opened a fresh TCP connection to Redis, which took
over a third of an API request's time (bench/api_throughput.py, profiled with py-spy).
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_POOLS_BY_SERVERS: dict[tuple[str, ...], dict[int, Any]] = {}


class SharedPoolRedisCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        # redis-py pools are thread-safe; sharing them by server list keeps distinct caches apart.
        self._pools = _POOLS_BY_SERVERS.setdefault(tuple(servers), {})


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
