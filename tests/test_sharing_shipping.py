"""Shipping info of orders paid by profit sharing goes through the e-commerce gateway, per
sub-order: the combined form for a combined payment's part, the part's own transaction for
a partner payment, pickup as its own logistics type (docs/merchant-money.md)."""

from __future__ import annotations

import pytest

from merchants.tests.factories import MerchantStaffFactory
from orders.services.lifecycle import order_ship
from orders.tests.helpers import sandbox_pay
from shop.payments.errors import PaymentNotPaid
from shop.payments.models import PaymentPart
from shop.payments.services import payment_upload_shipping

from .profit_sharing import sandbox, two_merchant_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def _ship(order, django_capture_on_commit_callbacks) -> None:
    staff = MerchantStaffFactory(merchant_id=order.merchant_id)
    with django_capture_on_commit_callbacks(execute=True):  # the upload task runs (eager)
        order_ship(
            order_id=order.pk,
            merchant_id=order.merchant_id,
            carrier="SF",
            tracking_no=f"SF{order.pk}",
            actor=staff.user,
        )


def test_shipping_a_combined_payments_order_uploads_its_sub_order_in_the_combined_form(
    django_capture_on_commit_callbacks,
):
    result, _, member, _ = two_merchant_checkout(coupon_fen=0)
    sandbox_pay(result.payment)
    first, second = sorted(result.orders, key=lambda o: o.pk)

    _ship(first, django_capture_on_commit_callbacks)

    part, other = (PaymentPart.objects.get(order_id=o.pk) for o in (first, second))
    assert sandbox().shipment(sub_mchid=part.sub_mchid, out_trade_no=part.out_trade_no) == {
        "uploads": 1,
        "combined": True,
        "logistics_type": 1,
        "carrier": "SF",
        "tracking_no": f"SF{first.pk}",
        "item_desc": first.items.get().product_title,
        "openid": member.openid,
    }
    assert (
        sandbox().shipment(sub_mchid=other.sub_mchid, out_trade_no=other.out_trade_no) is None
    )  # not shipped


def test_shipping_a_partner_payments_order_uploads_it_by_its_own_transaction(
    django_capture_on_commit_callbacks,
):
    result, _, _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    sandbox_pay(result.payment)
    (order,) = result.orders

    _ship(order, django_capture_on_commit_callbacks)

    part = PaymentPart.objects.get(order_id=order.pk)
    shipped = sandbox().shipment(sub_mchid=part.sub_mchid, out_trade_no=part.out_trade_no)
    assert (shipped["combined"], shipped["uploads"]) == (False, 1)


def test_a_pickup_order_is_uploaded_as_collected_by_the_buyer():
    result, _, _, _ = two_merchant_checkout(coupon_fen=0)
    sandbox_pay(result.payment)
    order = min(result.orders, key=lambda o: o.pk)

    payment_upload_shipping(
        payment_id=result.payment.pk,
        carrier="",
        tracking_no="",
        item_desc="抽纸",
        order_id=order.pk,
        pickup=True,
    )

    part = PaymentPart.objects.get(order_id=order.pk)
    shipped = sandbox().shipment(sub_mchid=part.sub_mchid, out_trade_no=part.out_trade_no)
    assert (shipped["logistics_type"], shipped["carrier"], shipped["combined"]) == (4, "", True)


def test_an_unpaid_shared_payment_uploads_nothing():
    result, _, _, _ = two_merchant_checkout(coupon_fen=0)
    order = min(result.orders, key=lambda o: o.pk)

    with pytest.raises(PaymentNotPaid):
        payment_upload_shipping(
            payment_id=result.payment.pk, carrier="SF", tracking_no="SF1", item_desc="x", order_id=order.pk
        )

    part = PaymentPart.objects.get(order_id=order.pk)
    assert sandbox().shipment(sub_mchid=part.sub_mchid, out_trade_no=part.out_trade_no) is None
