from __future__ import annotations

import pytest

from shop.payments.gateways.registry import gateway_register, gateway_unregister

from .helpers import FakeGateway, register_test_purposes


@pytest.fixture(autouse=True)
def _purposes():
    register_test_purposes()


@pytest.fixture
def fake():
    """The fake gateway, registered as ``fakepay`` for the test."""
    gateway = FakeGateway()
    gateway_register(name="fakepay", factory=lambda: gateway)
    yield gateway
    gateway_unregister(name="fakepay")
