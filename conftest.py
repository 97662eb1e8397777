"""Project-wide pytest fixtures. App factories live in each app's ``tests/factories.py``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge their inputs, not the machine: on a loaded machine (CI beside other
# work) generating examples can be slow, which Hypothesis would report as a failure.
settings.register_profile("shop", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("shop")


@pytest.fixture(autouse=True)
def _sandbox_ecommerce_namespace(settings):
    """Each test its own e-commerce sandbox (its state lives in the shared cache, keyed by
    our numbers, which restart with every test database)."""
    import uuid

    settings.SANDBOX_ECOMMERCE_NAMESPACE = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_client():
    """``make_client(user)`` → an APIClient sending a real Bearer token of that user."""
    from rest_framework.test import APIClient

    from accounts.services import token_issue

    def _make(user=None):
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
        return client

    return _make
