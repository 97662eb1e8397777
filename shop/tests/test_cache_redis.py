"""shop/cache_redis.py: Django's Redis cache with one client per pool, behaving as Django's."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from shop.cache_redis import ReusingRedisCache


@pytest.fixture
def cache(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    backend = ReusingRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "test-cache-redis"})
    yield backend
    backend.clear()


def test_operations_behave_as_django_s_and_reuse_one_client(cache):
    plain = RedisCache(cache._servers, {"KEY_PREFIX": "test-cache-redis"})

    cache.set("k", {"订单": 1}, timeout=60)
    assert plain.get("k") == {"订单": 1}  # the same keys and values as Django's own backend
    assert cache.add("n", 0) is True
    assert cache.add("n", 5) is False
    assert cache.incr("n", 3) == 3
    assert cache.get_many(["k", "n", "missing"]) == {"k": {"订单": 1}, "n": 3}
    cache.delete("k")
    assert plain.get("k") is None

    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client  # one server: reads and writes share it


def test_the_project_s_cache_is_the_reusing_backend(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    assert isinstance(caches["default"], ReusingRedisCache)
