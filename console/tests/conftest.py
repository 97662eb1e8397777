"""A merchant's shop as its console pages see it: staff signed in, a category, products with
SKUs, paid orders; and a second merchant whose objects must stay out of reach (404)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from merchants.models import Merchant, MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.tests.helpers import buy_paid
from products.models import Category, Product, Sku
from products.tests.factories import CategoryFactory, ProductFactory, SkuFactory

from .helpers import console_login


@dataclass
class Shop:
    merchant: Merchant
    staff: MerchantStaff
    client: Client
    category: Category
    product: Product
    sku: Sku
    store: object = None
    buyers: list = field(default_factory=list)

    def paid_order(self, sku: Sku | None = None, qty: int = 1) -> Order:
        if self.store is None:
            self.store, _, self.buyers = make_store(members=3)
        return buy_paid(buyer=self.buyers[0], store=self.store, sku=sku or self.sku, qty=qty)


def _shop(role: str = MerchantStaff.Role.OWNER) -> Shop:
    staff = MerchantStaffFactory(role=role)
    merchant = staff.merchant
    category = CategoryFactory(name="纸品", deposit_fen=0)
    merchant.categories.add(category)
    product = ProductFactory(merchant=merchant, category=category, title="维达抽纸 3层100抽")
    sku = SkuFactory(product=product, code="VD-24", on_hand=50, price_fen=1_990)
    client = Client()
    console_login(client, staff.user)
    client.cookies["console_lang"] = "en"  # the tests read the English console
    return Shop(merchant=merchant, staff=staff, client=client, category=category, product=product, sku=sku)


@pytest.fixture
def shop() -> Shop:
    return _shop()


@pytest.fixture
def other_shop() -> Shop:
    return _shop()


@pytest.fixture
def make_shop():
    return _shop


@pytest.fixture
def stranger_client() -> Client:
    client = Client()
    console_login(client, UserFactory())
    return client
