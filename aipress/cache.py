"""Django's Redis cache with one connection pool, and one client, per process instead of one per
cache object and one per call.

Django keeps cache objects per async context, and under ASGI every request is a new context: with
the stock backend each request built a pool and opened a fresh TCP connection to Redis, which took
over a third of an API request's time (bench/api_throughput.py, profiled with py-spy). The stock
backend also builds a `redis.Redis` for every cache call, 0.17 ms each (it copies the table of
response parsers): an API request makes three. A `redis.Redis` is thread-safe, so one is kept.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_POOLS_BY_SERVERS: dict[tuple[str, ...], dict[int, Any]] = {}
_CLIENTS_BY_SERVERS: dict[tuple[str, ...], dict[int, Any]] = {}


class SharedPoolRedisCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        # redis-py pools are thread-safe; sharing them by server list keeps distinct caches apart.
        self._pools = _POOLS_BY_SERVERS.setdefault(tuple(servers), {})
        self._clients = _CLIENTS_BY_SERVERS.setdefault(tuple(servers), {})

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        stock: Any = self  # Django's private attributes, which its type stubs leave out
        index = stock._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = stock._client(connection_pool=stock._get_connection_pool(write))
        return client


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
