"""The bench's reference endpoints exist only under ``shop.settings.bench``."""

from __future__ import annotations

import pytest
from django.conf import settings


def test_the_reference_app_is_not_installed_outside_the_bench_settings():
    assert "bench.reference_app" not in settings.INSTALLED_APPS
    assert settings.ROOT_URLCONF == "shop.urls"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"), [("get", "/bench/hello"), ("get", "/bench/read_1"), ("post", "/bench/buy")]
)
def test_the_reference_endpoints_are_not_reachable(api_client, method, path):
    response = getattr(api_client, method)(path, {"item_id": 1}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"]
