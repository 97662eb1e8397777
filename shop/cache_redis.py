"""Django's Redis cache backend, with one Redis client per connection pool instead of one per
cache operation.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every ``get``,
``set`` or ``incr``; with redis-py 5+ that constructor fills a case-insensitive table of some
two hundred response callbacks each time — about 1.5 ms of CPU. The e-commerce sandbox keeps
"WeChat's" state in the cache, so a shared checkout's prepay made seven of them: half its
Python time (bench/results/orders.md). A ``redis.Redis`` over a pool is safe to share between
threads, and its pool starts afresh in a forked worker, so one per pool is enough.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:  # as RedisCacheClient._get_connection_pool, by index
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class ReusingRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with ``ReusingRedisCacheClient``."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
