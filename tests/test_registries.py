"""The registries the apps fill at start-up (``AppConfig.ready``), all of one kind (shop/registry.py)."""

import pytest

from orders import hooks
from shop.ledger.checks import CHECKS
from shop.payments.registry import PAYMENT_PURPOSES, REFUND_PURPOSES
from shop.registry import RegistryError
from shop.sweepers import SWEEPERS


def test_apps_filled_the_registries_at_start_up():
    assert {"order_checkout", "merchant_deposit"} <= set(PAYMENT_PURPOSES.names())
    assert "deposit_refund" in REFUND_PURPOSES
    assert hooks.EVENTS["paid"].names() == ["rebates.accrue"]
    assert "red envelope pools" in CHECKS
    assert {"orders.cancel_unpaid", "orders.teams_expire", "rebates.settle"} <= set(SWEEPERS.names())


def test_a_second_start_up_registration_fails_loudly():
    name, handler = hooks.EVENTS["paid"].items()[0]
    with pytest.raises(RegistryError):
        hooks.register(event="paid", name=name, handler=handler)
