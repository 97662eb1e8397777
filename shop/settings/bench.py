"""Bench configuration: production settings plus the bench-only reference endpoints of
``bench/reference_app`` (``/bench/hello``, ``/bench/read_1``, ``/bench/buy``, ``/bench/ready``).
Every gunicorn a bench starts runs under it; ``bench/orders_http.py`` and ``bench/sale_day.py``
run every process under it (their databases hold the minimal buy's tables).

Only a benchmark names this module (``DJANGO_SETTINGS_MODULE=shop.settings.bench``);
the production default (``shop.settings.base``) has neither the app nor its URLs.
"""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.reference_app"]
ROOT_URLCONF = "bench.reference_app.urls"
