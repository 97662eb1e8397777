"""Per-user anti-spam throttles (DRF's ScopedRateThrottle, keyed by user id).

The rate is read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` at each
request (DRF's own class reads it once at import, so a settings override would not
apply); counts live in the default cache (Redis in production and tests).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


class UserScopedRateThrottle(ScopedRateThrottle):
    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)
