"""Shoppers' catalog pages (list and search) kept in the shared cache, invalidated by a
catalog version.

Search is the hottest read of the shop and popular queries repeat; a cached page costs
one Redis round trip instead of the search query. Correctness does not rest on the TTL:
every page is stored with the catalog version it was computed at, and anything that
changes what shoppers see bumps the version — at once and again after commit, so a
page computed from the pre-commit state is never served after the commit:

- ``post_save`` / ``post_delete`` of Product, Sku and Category (signals are the house
  way for cache invalidation only: ``products/apps.py``);
- the bulk ``UPDATE``s of ``products.services`` (status moves, lowest price, search
  vectors) call ``catalog_changed()`` themselves.

What is *not* bumped: ``sales_count`` (every shipment changes it) and stock (the list
does not show it); a page's sales figures may lag by up to the TTL.

On only with ``CATALOG_PAGE_CACHE_SECONDS`` > 0 and a Redis cache (a per-process cache
would let gunicorn workers disagree); off by default, and so in the test suite, whose
factories write rows that other tests then read.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_TTL = 24 * 3600  # far beyond any page's TTL; restarting from the clock is always newer
_VERSION = "catalog:version:"
_PAGE = "catalog:page:"


def _seconds() -> int:
    return int(getattr(settings, "CATALOG_PAGE_CACHE_SECONDS", 0) or 0)


def enabled() -> bool:
    backend = settings.CACHES["default"]["BACKEND"].lower()
    return _seconds() > 0 and "redis" in backend


def _namespace() -> str:
    # Databases sharing one Redis (several environments, parallel test runs) never mix.
    return str(settings.DATABASES["default"]["NAME"])


def _bump() -> None:
    key = _VERSION + _namespace()
    try:
        cache.incr(key)
        cache.touch(key, VERSION_TTL)
    except ValueError:  # not there yet (or evicted): start from the clock, never reuse an old number
        cache.set(key, int(time.time() * 1000), VERSION_TTL)


def catalog_changed() -> None:
    """Something shoppers see changed: bump the version now and after commit."""
    if not enabled():
        return
    _bump()
    transaction.on_commit(_bump)


def page_key(params: dict) -> str:
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode(), usedforsecurity=False)
    return f"{_PAGE}{_namespace()}:{digest.hexdigest()}"


def page_get(key: str) -> tuple[object | None, int | None]:
    """``(cached value or None, current version)`` in one round trip."""
    version_key = _VERSION + _namespace()
    found = cache.get_many([version_key, key])
    version = found.get(version_key)
    if version is None:
        _bump()
        return None, None
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        return entry[1], version
    return None, version


def page_set(key: str, version: int | None, value: object) -> None:
    if version is not None:
        cache.set(key, (version, value), _seconds())
