"""Signing a test client in to the console, and a merchant with something to do today."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from orders.models import AfterSale
from products.models import Product
from products.tests.factories import CategoryFactory, SkuFactory
from rebates.models import MerchantStatement
from rebates.tests.helpers import make_paid_order


def console_login(client, user) -> None:
    """``force_login`` with the user as stored: ``UserFactory`` sets an unusable password without
    saving it, and a session made from the unsaved hash would be refused on the next request."""
    user.refresh_from_db()
    client.force_login(user)


def busy_shop(*, unionid: str | None = None):
    """A merchant with two paid orders (one with an open after-sales request), a SKU
    running out, a category its deposit covers and one it does not, and two statements."""
    staff = MerchantStaffFactory(**({"user__unionid": unionid} if unionid else {}))
    merchant = staff.merchant
    covered = CategoryFactory(name="日用百货", deposit_fen=100_000)
    short = CategoryFactory(name="生鲜", deposit_fen=500_000)
    merchant.categories.add(covered, short)
    pay_deposit(merchant, 200_000, payer=staff.user)
    sku = SkuFactory(product__merchant=merchant, product__category=covered, on_hand=50, code="PLENTY")
    SkuFactory(
        product__merchant=merchant, product__category=covered, on_hand=3, code="LOW-3", product__title="纸巾"
    )
    SkuFactory(
        product__merchant=merchant, product__status=Product.Status.OFF_SALE, on_hand=0, code="OFF-SALE-EMPTY"
    )
    store, _, (member,) = make_store(members=1)
    first = make_paid_order(buyer=member, store=store, sku=sku, qty=1)
    make_paid_order(buyer=member, store=store, sku=sku, qty=2)
    respond_by = timezone.now() + timedelta(hours=20)
    AfterSale.objects.create(
        order=first,
        buyer=member,
        merchant=merchant,
        kind=AfterSale.Kind.REFUND,
        amount_fen=990,
        reason="少发",
        respond_by=respond_by,
    )
    today = timezone.localdate()
    # closing = opening + sales − released (the statement's identity, rebates/models.py)
    MerchantStatement.objects.create(
        merchant=merchant,
        date=today - timedelta(days=2),
        sales_fen=57_000,
        released_fen=7_000,
        closing_fen=50_000,
    )
    MerchantStatement.objects.create(
        merchant=merchant,
        date=today - timedelta(days=1),
        opening_fen=50_000,
        sales_fen=2_000,
        released_fen=12_000,
        closing_fen=40_000,
        held_fen=990,
    )
    return staff, respond_by
