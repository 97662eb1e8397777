"""Data for the console's money pages, made through the real services."""

from __future__ import annotations

from groupstore.tests.factories import make_store
from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale
from orders.services.after_sales import CaseItem, after_sale_open
from products.tests.factories import SkuFactory
from rebates.tests.helpers import make_paid_order


def staff_of(merchant, role: str = MerchantStaff.Role.OWNER) -> MerchantStaff:
    return MerchantStaffFactory(merchant=merchant, role=role)


def open_case(
    *, merchant=None, kind: str = AfterSale.Kind.REFUND, amount_fen: int = 1_990, reason: str = "少发了一件"
) -> AfterSale:
    """A paid order of two units from ``merchant`` (a new one if None) and a case on one unit."""
    if merchant is None:
        merchant = MerchantStaffFactory().merchant
    sku = SkuFactory(product__merchant=merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)
    store, _, (buyer,) = make_store(members=1)
    order = make_paid_order(buyer=buyer, store=store, sku=sku, qty=2)
    return after_sale_open(
        order_id=order.pk,
        buyer=buyer,
        kind=kind,
        items=[CaseItem(order_item_id=order.items.get().pk, qty=1)],
        amount_fen=amount_fen,
        reason=reason,
    )
