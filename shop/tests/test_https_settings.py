"""``HTTPS=1`` (shop/settings/base.py, docs/deploy.md "HTTPS"): Django's own deployment
check finds nothing to say about cookies, HSTS or redirects — and without it, it does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def _deploy_check(**extra: str) -> set[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.base",
        "DEBUG": "0",
        "SANDBOX": "0",
        "SECRET_KEY": "k" * 20 + "x7Q!p2#vL9@mZ4$wR8^tY6&uI1*oE3(aS5)dF0_gH",
        **extra,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "CRITICAL"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"security\.W\d+", done.stderr))


def test_https_on_leaves_no_cookie_hsts_or_redirect_warning():
    assert _deploy_check(HTTPS="1") & HTTPS_WARNINGS == set()


def test_https_off_is_warned_about():
    assert _deploy_check(HTTPS="0") >= HTTPS_WARNINGS


def test_https_redirects_plain_http_but_not_the_health_check_or_the_metrics_scrape():
    """Both are asked over plain HTTP from inside (the proxy, Prometheus on loopback)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.base",
        "DEBUG": "0",
        "SANDBOX": "0",
        "SECRET_KEY": "k" * 50,
        "HTTPS": "1",
    }
    code = (
        "from django.test import Client; c = Client(); "
        "print(*(c.get(p).status_code for p in ('/api/v1/products', '/healthz', '/metrics')))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    api, health, metrics = (int(word) for word in done.stdout.split()[-3:])

    assert api == 301
    assert health != 301
    assert metrics != 301
