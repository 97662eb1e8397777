from __future__ import annotations

import pytest

from shop.payments.gateways.registry import EXTRA_GATEWAYS

from .helpers import FakeGateway, purposes_for_tests


@pytest.fixture(autouse=True)
def _purposes():
    with purposes_for_tests():
        yield


@pytest.fixture
def fake():
    """The fake gateway, registered as ``fakepay`` for the test."""
    gateway = FakeGateway()
    with EXTRA_GATEWAYS.override("fakepay", lambda: gateway):
        yield gateway
