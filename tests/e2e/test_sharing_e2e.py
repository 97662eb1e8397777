"""Profit sharing end to end (issue 13 step 3, "Show"): a real Celery worker through Redis
sends every gateway step to the e-commerce sandbox (its state in Redis, shared with this
process). A purchase across two merchants in one combined payment with a platform coupon →
subsidies → completion → shares PROCESSING then FINISHED → unfreeze confirmed → a refund
after sharing returns the share first → ``ledger_check`` green."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.services.lifecycle import order_complete, order_confirm_receipt, order_ship
from orders.services.refunds import RefundLine, order_refund
from orders.tests.helpers import sandbox_pay
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
from shop.payments.models import FundsStep, Refund
from tests.profit_sharing import frozen, kind_total, receivable, two_merchant_checkout

from .conftest import wait_for

pytestmark = [pytest.mark.e2e]


def _status(kind: str) -> set[str]:
    return set(FundsStep.objects.filter(kind=kind).values_list("status", flat=True))


def test_a_combined_payment_is_subsidised_shared_unfrozen_and_refunded_through_a_real_worker(
    real_celery, settings
):
    # The worker reads the sandbox's default namespace: this test's merchants are its own.
    settings.MERCHANT_FUNDS = "profit_sharing"
    settings.SANDBOX_ECOMMERCE_NAMESPACE = ""
    gateway = SandboxEcommerceGateway()
    gateway.control.processing_polls(2)  # each share answers PROCESSING twice, then FINISHED
    try:
        _run(gateway)
    finally:
        gateway.control.clear()


def _run(gateway: SandboxEcommerceGateway) -> None:
    now = timezone.now()
    result, skus, member, _ = two_merchant_checkout(coupon_fen=500, sub_mchid_key=f"e2e-{uuid.uuid4().hex}")
    m1, m2 = (sku.merchant_id for sku in skus)
    sub1 = skus[0].merchant.sub_mchid

    # Paid in one combined payment: each merchant's part frozen at the gateway.
    assert sandbox_pay(result.payment) == "applied"
    assert {
        p["trade_state"]
        for p in [
            {"trade_state": x.trade_state} for x in gateway.combine_query(result.payment.out_trade_no).parts
        ]
    } == {"SUCCESS"}

    # The worker pays the coupon's parts as subsidies (199 and 301).
    wait_for(lambda: _status("subsidy") == {"confirmed"}, timeout=30, what="both subsidies confirmed")
    assert gateway.balances(sub1)["frozen"] == 1_990

    # Completion: shipped, received, the after-sales window closed; the worker settles.
    for order in sorted(result.orders, key=lambda o: o.pk):
        staff = MerchantStaffFactory(merchant_id=order.merchant_id)
        order_ship(
            order_id=order.pk,
            merchant_id=order.merchant_id,
            carrier="SF",
            tracking_no=f"SF{order.pk}",
            actor=staff.user,
        )
        order_confirm_receipt(order_id=order.pk, actor=member, now=now)
        order_complete(order_id=order.pk, now=now + timedelta(days=7, minutes=1))

    # The shares go out, PROCESSING first, then FINISHED; only then is the money released.
    wait_for(lambda: "processing" in _status("share"), timeout=30, what="the shares accepted (PROCESSING)")
    assert kind_total("share_finished", m1) == 0
    wait_for(lambda: _status("share") == {"confirmed"}, timeout=60, what="both shares FINISHED")
    assert (kind_total("share_finished", m1), kind_total("share_finished", m2)) == (210, 316)

    # The rest is unfrozen for each merchant, confirmed by the gateway.
    wait_for(lambda: _status("unfreeze") == {"confirmed"}, timeout=60, what="both unfreezes confirmed")
    assert gateway.balances(sub1) == {"frozen": 0, "released": 1_780}
    assert (frozen(m1), receivable(m1), frozen(m2), receivable(m2)) == (0, 0, 0, 0)
    call_command("ledger_check")

    # An ops refund after sharing: the clawed-back commission is returned first, then the
    # buyer is refunded from the merchant's funds, then the coupon's share goes back.
    order = Order.objects.get(pk=min(o.pk for o in result.orders))
    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=995)],
        reason="仲裁退款",
        key=f"e2e-late-{order.pk}",
        by_ops=True,
    )
    wait_for(
        lambda: Refund.objects.get(pk=refund.pk).status == Refund.Status.SUCCEEDED,
        timeout=90,
        what="the refund paid after its share return",
    )
    share_return = FundsStep.objects.get(kind="share_return", refund_id=refund.pk)
    assert (share_return.status, share_return.amount_fen) == ("confirmed", 112)
    assert share_return.confirmed_at <= Refund.objects.get(pk=refund.pk).finished_at
    wait_for(lambda: _status("subsidy_return") == {"confirmed"}, timeout=60, what="the subsidy returned")
    assert kind_total("refund_from_frozen", m1) == 995
    assert gateway.balances(sub1) == {"frozen": 0, "released": 1_780 + 112 - 995 - 110}
    call_command("ledger_check")
