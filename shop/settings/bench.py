"""Bench configuration (bench/orders_http.py): production settings plus the bench-only
reference endpoints of ``bench/reference_app`` (``/bench/hello``, ``/bench/buy``).

Only a benchmark names this module (``DJANGO_SETTINGS_MODULE=shop.settings.bench``);
the production default (``shop.settings.base``) has neither the app nor its URLs.
"""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.reference_app"]
ROOT_URLCONF = "bench.reference_app.urls"
