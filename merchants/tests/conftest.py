from __future__ import annotations

import pytest

from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.models import Product
from products.tests.factories import CategoryFactory, ProductFactory
from shop.payments.gateways.registry import EXTRA_GATEWAYS
from shop.payments.tests.helpers import FakeGateway


@pytest.fixture
def shop():
    """A merchant with ¥3,000 deposit, listings in a ¥2,000 and a ¥3,000 category."""
    staff = MerchantStaffFactory()
    merchant = staff.merchant
    general = CategoryFactory(name="日用百货", deposit_fen=200_000)
    digital = CategoryFactory(name="数码电子", deposit_fen=300_000)
    merchant.categories.set([general, digital])
    pay_deposit(merchant, 300_000, payer=staff.user)
    products = {
        "tissue": ProductFactory(merchant=merchant, category=general, status=Product.Status.ON_SALE),
        "case": ProductFactory(merchant=merchant, category=digital, status=Product.Status.ON_SALE),
        "cable": ProductFactory(merchant=merchant, category=digital, status=Product.Status.OFF_SALE),
    }
    return staff, merchant, products


@pytest.fixture
def fake():
    """A scripted gateway outside our walls, registered as ``fakepay`` for the test."""
    gateway = FakeGateway()
    with EXTRA_GATEWAYS.override("fakepay", lambda: gateway):
        yield gateway
