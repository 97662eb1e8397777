"""Per-user anti-spam throttles (DRF's ScopedRateThrottle, keyed by user id), and what
every throttle does when its cache is down.

The rate is read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` at each
request (DRF's own class reads it once at import, so a settings override would not
apply); counts live in the default cache (Redis in production and tests).

Redis down (issue 19, item 7): the database is the truth, so a throttle whose counter
cannot be read must not turn a call into a 500. Two answers, by scope:

- **fail open** (login, stores, share links, …): the call goes through unthrottled; the
  outage is logged and counted in ``shop_degraded_total{component="throttle"}`` so ops see
  it in ``/metrics``. Losing the anti-spam limit for a few minutes costs less than
  locking everybody out.
- **fail closed** for calls that move money under an ``Idempotency-Key``
  (``FAIL_CLOSED_SCOPES``): ``503 service_unavailable`` with ``Retry-After``, raised in
  ``check_throttles`` before the view, so no key row is written and nothing moves; the
  client sends the same request, with the same key, once Redis is back.
"""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from shop.errors import ServiceUnavailable

from .metrics import DEGRADED

logger = logging.getLogger("shop.api")

# Money calls protected by their rate limit as well as their Idempotency-Key: while the
# limit cannot be checked they are refused, never run unlimited.
FAIL_CLOSED_SCOPES = frozenset({"withdrawal_create"})
CACHE_DOWN_RETRY_AFTER_S = 30


def _cache_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # refused, reset, timed out sockets
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency; locmem raises nothing
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


CACHE_ERRORS = _cache_errors()


class CacheOutageMixin:
    """Make a DRF throttle survive its cache being down (module docstring)."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            scope = getattr(self, "scope", None) or type(self).__name__
            if scope in FAIL_CLOSED_SCOPES:
                DEGRADED.labels("throttle", scope, "refused").inc()
                logger.error("throttle %s: cache down (%s); money call refused with 503", scope, exc)
                raise ServiceUnavailable(
                    "A safety check is briefly unavailable; nothing was done. "
                    "Send the same request again shortly.",
                    retry_after_s=CACHE_DOWN_RETRY_AFTER_S,
                ) from exc
            DEGRADED.labels("throttle", scope, "fail_open").inc()
            logger.warning("throttle %s: cache down (%s); request let through unthrottled", scope, exc)
            return True


class UserScopedRateThrottle(CacheOutageMixin, ScopedRateThrottle):
    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


class ClientAddressRateThrottle(CacheOutageMixin, AnonRateThrottle):
    """Per client address (DRF's ``AnonRateThrottle``), surviving a cache outage."""
