"""``ledger_check`` reconciles every sub-ledger with the ledger through the checks the apps
register (issue 13, step 2): a database built by real purchases, coupons, a payment
anomaly, refunds before and after settlement, settlements, red envelope claims and expiry,
deposits, deductions with compensation and withdrawals passes; and each registered check, on its own, fails
loudly (its name, the rows, expected vs found) when one of its sub-ledger rows is changed
by hand without its ledger line.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from groupstore.models import Membership, StoreStats
from groupstore.tests.factories import make_store
from merchants.checks import DEPOSITS_CHECK
from merchants.models import DepositMovement
from merchants.services import deposit_deduct
from merchants.tests.factories import pay_deposit
from orders.checks import CAMPAIGNS_CHECK
from orders.models import CouponCampaign, Order
from orders.services.checkout import order_create
from orders.services.coupons import coupon_campaign_launch, coupon_redeem, marketing_budget_allocate
from orders.services.refunds import RefundLine, order_refund
from products.tests.factories import SkuFactory
from rebates.checks import FIGURES_CHECK, MERCHANT_CHECK, PLATFORM_CHECK, WALLETS_CHECK
from rebates.models import Accrual, OrderSettlement, RedEnvelope
from rebates.services.envelopes import red_envelope_claim, red_envelope_expire
from rebates.services.settlement import orders_settle
from rebates.services.withdrawals import withdrawal_create
from shop.ledger.checks import registered_checks
from shop.payments.checks import GATEWAY_CLEARING_CHECK, PAYOUT_CLEARING_CHECK, REFUND_CLEARING_CHECK
from shop.payments.gateway_fees import FEES_CHECK
from shop.payments.models import (
    AnomalyPart,
    BillImport,
    FundsStep,
    GatewayFee,
    Payment,
    PaymentPart,
    Payout,
    Refund,
)
from shop.payments.parts import payment_apply_ecommerce
from shop.payments.parts_anomalies import ANOMALY_FUNDS_CHECK
from shop.payments.payouts import payout_apply, payout_send
from shop.payments.refunds import ANOMALY_PURPOSE, refund_send
from shop.payments.sharing_checks import FROZEN_CHECK, PARTS_CHECK, STEPS_CHECK
from shop.payments.steps import funds_step_run
from shop.payments.tests.helpers import pay
from tests.profit_sharing import (
    complete,
    declared_sub_orders,
    pay_at_gateway,
    run_open_steps,
    two_merchant_checkout,
)

from .helpers import (
    ADDRESS,
    fund_wallet,
    make_campaign,
    make_completed_orders,
    make_paid_order,
    make_pending_order,
    sandbox_pay,
)

pytestmark = pytest.mark.django_db

ENVELOPE_POOLS_CHECK = "red envelope pools"


def ledger_check() -> str:
    """Run ``ledger_check``; return what it reported (empty when the books hold)."""
    err = io.StringIO()
    try:
        call_command("ledger_check", stdout=io.StringIO(), stderr=err)
    except CommandError as exc:
        return f"{err.getvalue()}\n{exc}"
    return ""


def ops_refund(order: Order, amount_fen: int, key: str) -> Refund:
    item = order.items.get()
    return order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=item.pk, amount_fen=amount_fen)],
        reason="test",
        key=key,
        by_ops=order.status == Order.Status.COMPLETED,
    )


@pytest.fixture
def world(settings):
    """Every kind of money movement there is today, each through its real service."""
    now = timezone.now()
    store, owner, (alice, bob, carol) = make_store(members=3)
    make_campaign(budget_fen=300, envelope_fen=300, shares=3, stores=[store])  # one campaign envelope
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=100)
    merchant = sku.merchant

    # Purchases: three completed and settled (envelopes: the campaign's, then the orders'),
    # one with a coupon paid and not completed, one paid and refunded in part before settling.
    completed = make_completed_orders(buyers=[alice, bob, carol], store=store, sku=sku)
    # A coupon campaign funded from revenue: alice's coupon paid for, bob's still promised.
    marketing_budget_allocate(amount_fen=2_000, note="world")
    campaign = CouponCampaign.objects.create(
        title="world",
        audience="code",
        code="WORLD",
        amount_fen=300,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        cap_fen=900,
    )
    coupon_campaign_launch(campaign_id=campaign.pk)
    coupon = coupon_redeem(user=alice, code="WORLD")
    coupon_redeem(user=bob, code="WORLD")
    (with_coupon,) = order_create(
        buyer=alice,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": 1}],
        address=ADDRESS,
        gateway="sandbox",
        coupon_id=coupon.pk,
    ).orders
    sandbox_pay(with_coupon.payment)
    with_coupon.refresh_from_db()
    pending = make_paid_order(buyer=bob, store=store, sku=sku)
    # A payment the gateway reports with another amount: an anomaly, its money sent back.
    mismatched = make_pending_order(buyer=carol, store=store, sku=sku)
    pay(mismatched.payment, amount_fen=1_000)
    assert Refund.objects.filter(purpose=ANOMALY_PURPOSE, amount_fen=1_000).count() == 1
    assert orders_settle(order_ids=[o.pk for o in completed]) == 3

    # Refunds: before settlement (with a coupon share going back), and twice after it.
    ops_refund(with_coupon, 500, key="world-coupon")
    ops_refund(pending, 333, key="world-pending")
    ops_refund(completed[1], 995, key="world-ops-1")
    sent = ops_refund(completed[1], 995, key="world-ops-2")
    assert refund_send(refund_id=sent.pk).status == Refund.Status.SUCCEEDED  # the others wait

    # Red envelopes: claims, and one envelope expired with its rest returned.
    envelopes = list(RedEnvelope.objects.filter(store=store).order_by("pk"))
    assert {e.source for e in envelopes} == {RedEnvelope.Source.CAMPAIGN, RedEnvelope.Source.ORDER}
    for envelope in envelopes:
        red_envelope_claim(envelope_id=envelope.pk, user=alice, now=now)
    red_envelope_claim(envelope_id=envelopes[0].pk, user=bob, now=now)
    red_envelope_expire(envelope_id=envelopes[1].pk, now=envelopes[1].expires_at)

    # Deposits: paid in, deducted with part compensating a buyer.
    pay_deposit(merchant, 50_000)
    deposit_deduct(
        merchant_id=merchant.pk,
        amount_fen=2_000,
        reason_code="late_shipment",
        actor=None,
        buyer_id=carol.pk,
        compensation_fen=500,
    )

    # Withdrawals: one paid out, one failed (money back), one still waiting.
    fund_wallet(alice, 5_000)
    outcomes = []
    for amount, state in ((1_000, "SUCCESS"), (500, "FAIL"), (200, None)):
        withdrawal = withdrawal_create(user=alice, amount_fen=amount, now=now)
        payout = payout_send(payout_id=withdrawal.payout_id, now=now)
        if state:
            payout = payout_apply(out_bill_no=payout.out_bill_no, state=state, now=now)
        outcomes.append(payout.state)
    assert outcomes == [Payout.State.SUCCEEDED, Payout.State.FAILED, Payout.State.WAIT_USER_CONFIRM]

    # Profit sharing: two merchants in one combined payment with a platform coupon; the
    # subsidies paid, both orders completed and shared, one unfrozen, the other's pending.
    settings.MERCHANT_FUNDS = "profit_sharing"
    result, _, _, _ = two_merchant_checkout(coupon_fen=500)
    sandbox_pay(result.payment)
    assert run_open_steps("subsidy") == ["confirmed", "confirmed"]
    shared = [complete(order) for order in sorted(result.orders, key=lambda o: o.pk)]
    orders_settle(order_ids=[o.pk for o in shared])
    assert run_open_steps("share") == ["processing", "processing"]
    assert run_open_steps("share") == ["confirmed", "confirmed"]
    unfreeze = FundsStep.objects.get(kind="unfreeze", order_id=shared[0].pk)
    for _ in range(2):  # sent (processing), then polled (FINISHED); the other one waits
        FundsStep.objects.filter(pk=unfreeze.pk).update(next_attempt_at=None)
        funds_step_run(step_id=unfreeze.pk)
    assert FundsStep.objects.get(pk=unfreeze.pk).status == "confirmed"
    # A shared payment reported with another amount: booked in its merchant's funds, its
    # refund from there requested (and left in flight).
    anomalous, _, _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    (declared,) = declared_sub_orders(anomalous.payment)
    reported = pay_at_gateway(anomalous.payment, [replace(declared, amount_fen=1_000)])
    assert payment_apply_ecommerce(gateway="sandbox", result=reported) == "anomaly"
    settings.MERCHANT_FUNDS = "platform"

    return SimpleNamespace(
        shared=shared,
        anomaly_part=AnomalyPart.objects.get(),
        store=store,
        owner=owner,
        alice=alice,
        bob=bob,
        carol=carol,
        merchant=merchant,
        completed=completed,
        with_coupon=with_coupon,
        campaign=campaign,
        pending=pending,
        envelopes=envelopes,
    )


def test_a_database_of_real_money_movements_passes_every_check(world):
    assert ledger_check() == ""


def _open_envelope(w) -> RedEnvelope:
    return RedEnvelope.objects.filter(store=w.store, status=RedEnvelope.Status.OPEN).first()


# One hand edit per registered check: (check, what is changed, text the report must show).
def _fee_row_never_booked(w) -> int:
    """A handling fee recorded from a trade bill with no posting behind it."""
    payment = Payment.objects.get(pk=w.pending.payment_id)
    bill = BillImport.objects.create(gateway=payment.gateway, kind="trade", bill_date=timezone.localdate())
    GatewayFee.objects.create(
        gateway=payment.gateway,
        fee_key="tampered",
        transaction_id="tampered",
        out_trade_no=payment.out_trade_no,
        bill_import=bill,
        fee_fen=7,
        funds="platform",
        payment=payment,
    )
    return 1


TAMPERS = {
    WALLETS_CHECK: (
        lambda w: Accrual.objects.filter(order=w.completed[0], kind=Accrual.Kind.MEMBER_REBATE).update(
            amount_fen=F("amount_fen") + 7
        ),
        lambda w: f"available wallet of user {w.alice.pk}",
    ),
    PLATFORM_CHECK: (
        lambda w: OrderSettlement.objects.filter(order=w.completed[2]).update(
            platform_fee_fen=F("platform_fee_fen") + 7
        ),
        lambda w: "platform_revenue",
    ),
    MERCHANT_CHECK: (
        lambda w: Order.objects.filter(pk=w.pending.pk).update(sale_fen=F("sale_fen") + 7),
        lambda w: f"receivable of merchant {w.merchant.pk}",
    ),
    FIGURES_CHECK: (
        lambda w: StoreStats.objects.filter(store=w.store).update(
            commission_settled_fen=F("commission_settled_fen") + 7
        ),
        lambda w: f"store {w.store.pk} commission_settled_fen",
    ),
    DEPOSITS_CHECK: (
        lambda w: DepositMovement.objects.filter(merchant=w.merchant, kind="deducted").update(
            amount_fen=F("amount_fen") - 7
        ),
        lambda w: f"deposit of merchant {w.merchant.pk}",
    ),
    ENVELOPE_POOLS_CHECK: (
        lambda w: RedEnvelope.objects.filter(pk=_open_envelope(w).pk).update(
            remaining_fen=F("remaining_fen") + 7
        ),
        lambda w: f"store {w.store.pk}'s envelope pool",
    ),
    GATEWAY_CLEARING_CHECK: (
        lambda w: Payment.objects.filter(pk=w.pending.payment_id).update(amount_fen=F("amount_fen") + 7),
        lambda w: "gateway clearing",
    ),
    REFUND_CLEARING_CHECK: (
        lambda w: Refund.objects.filter(key="world-pending").update(amount_fen=F("amount_fen") + 7),
        lambda w: "refund clearing",
    ),
    FROZEN_CHECK: (
        lambda w: FundsStep.objects.filter(kind="unfreeze", order_id=w.shared[0].pk).update(
            amount_fen=F("amount_fen") - 7
        ),
        lambda w: f"frozen funds of merchant {w.shared[0].merchant_id}",
    ),
    PARTS_CHECK: (
        lambda w: PaymentPart.objects.filter(order_id=w.shared[1].pk).update(amount_fen=F("amount_fen") + 7),
        lambda w: f"part of order {w.shared[1].pk}",
    ),
    STEPS_CHECK: (
        lambda w: FundsStep.objects.filter(kind="subsidy", order_id=w.shared[0].pk).update(
            amount_fen=F("amount_fen") + 7
        ),
        lambda w: f"of order {w.shared[0].pk}",
    ),
    ANOMALY_FUNDS_CHECK: (
        lambda w: AnomalyPart.objects.filter(pk=w.anomaly_part.pk).update(amount_fen=F("amount_fen") - 7),
        lambda w: f"anomaly funds of merchant {w.anomaly_part.merchant_id}",
    ),
    FEES_CHECK: (_fee_row_never_booked, lambda w: "gateway fees"),
    CAMPAIGNS_CHECK: (
        lambda w: CouponCampaign.objects.filter(pk=w.campaign.pk).update(released_fen=F("released_fen") + 7),
        lambda w: f"reserve of coupon campaign {w.campaign.pk}",
    ),
    PAYOUT_CLEARING_CHECK: (
        lambda w: Payout.objects.filter(state=Payout.State.SUCCEEDED).update(amount_fen=F("amount_fen") + 7),
        lambda w: f"payout clearing of user {w.alice.pk}",
    ),
}


def test_every_registered_check_has_a_hand_edit_test():
    assert {name for name, _ in registered_checks()} == set(TAMPERS)


@pytest.mark.parametrize("check", sorted(TAMPERS))
def test_a_hand_edit_without_its_ledger_line_fails_the_check_naming_rows_and_amounts(world, check):
    change, rows = TAMPERS[check]
    assert change(world) == 1  # one row changed by hand, no ledger line

    report = ledger_check()

    assert "OUT OF BALANCE" in report
    problems = [line.strip() for line in report.splitlines() if line.strip().startswith(f"{check}:")]
    assert problems, report
    assert any(rows(world) in line for line in problems), report
    assert any("difference +7" in line or "difference -7" in line for line in problems), report


def test_member_figures_are_reconciled_too(world):
    Membership.objects.filter(store=world.store, user=world.bob).update(saved_fen=F("saved_fen") + 1)

    report = ledger_check()

    assert f"{FIGURES_CHECK}: member (store, user) ({world.store.pk}, {world.bob.pk}) saved_fen" in report
    assert "difference +1" in report
