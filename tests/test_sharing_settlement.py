"""Settlement of orders paid by profit sharing: share rows, FINISHED releases the money,
the rest is unfrozen (docs/merchant-money.md)."""

import pytest

from orders.tests.helpers import sandbox_pay
from rebates.models import Accrual, OrderSettlement
from rebates.services.settlement import orders_settle
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import FundsStep

from .profit_sharing import (
    complete,
    frozen,
    kind_total,
    receivable,
    run_open_steps,
    sandbox,
    two_merchant_checkout,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def available(user_id: int) -> int:
    return account_balance(ref=AccountRef.user(Account.Kind.USER_AVAILABLE, user_id))


def paid_and_completed(coupon_fen: int = 500):
    result, skus, member, store = two_merchant_checkout(coupon_fen=coupon_fen)
    sandbox_pay(result.payment)
    assert run_open_steps("subsidy") == (["confirmed", "confirmed"] if coupon_fen else [])
    orders = [complete(order) for order in sorted(result.orders, key=lambda o: o.pk)]
    return orders, skus, member, store


def test_settlement_writes_share_rows_and_moves_no_money_until_finished():
    orders, skus, member, _ = paid_and_completed()

    assert orders_settle(order_ids=[o.pk for o in orders]) == 0  # nothing settled yet: shares written
    assert orders_settle(order_ids=[o.pk for o in orders]) == 0  # again: nothing written twice

    shares = list(FundsStep.objects.filter(kind="share").order_by("order_id"))
    # Commission 199 / 299 (1,000 bps) + the platform fee (60 bps of the goods: 11 / 17).
    assert [(s.out_no, s.commission_fen, s.fee_fen, s.amount_fen) for s in shares] == [
        (f"S{orders[0].pk}", 199, 11, 210),
        (f"S{orders[1].pk}", 299, 17, 316),
    ]
    assert not OrderSettlement.objects.exists()
    assert set(Accrual.objects.values_list("status", flat=True)) == {"pending"}
    assert available(member.pk) == 0


def test_a_share_processing_then_finished_settles_the_order_and_unfreezes_the_rest():
    orders, skus, member, store = paid_and_completed()
    orders_settle(order_ids=[o.pk for o in orders])
    gateway = sandbox()
    gateway.control.processing_polls(2)

    assert run_open_steps("share") == ["processing", "processing"]  # accepted
    assert run_open_steps("share") == ["processing", "processing"]  # still processing
    assert available(member.pk) == 0
    assert run_open_steps("share") == ["confirmed", "confirmed"]  # FINISHED

    m1, m2 = (sku.merchant_id for sku in skus)
    assert (kind_total("share_finished", m1), kind_total("share_finished", m2)) == (210, 316)
    assert available(member.pk) == 59 + 89  # the member rebates (30 % of 199 and 299)
    assert set(Accrual.objects.values_list("status", flat=True)) == {"settled"}
    assert OrderSettlement.objects.filter(merchant_payable_fen=0).count() == 2
    assert account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_CLEARING)) == 500 - 210 - 316
    # The rest is still frozen, and still the merchant's receivable: 1,990 − 210 and 2,990 − 316.
    assert (frozen(m1), receivable(m1)) == (-1_780, 1_780)
    assert (frozen(m2), receivable(m2)) == (-2_674, 2_674)

    unfreezes = FundsStep.objects.filter(kind="unfreeze").order_by("order_id")
    assert [(u.out_no, u.amount_fen) for u in unfreezes] == [
        (f"U{orders[0].pk}", 1_780),
        (f"U{orders[1].pk}", 2_674),
    ]
    gateway.control.processing_polls(1)
    assert run_open_steps("unfreeze") == ["processing", "processing"]
    assert run_open_steps("unfreeze") == ["confirmed", "confirmed"]
    assert run_open_steps() == []
    assert (frozen(m1), receivable(m1), frozen(m2), receivable(m2)) == (0, 0, 0, 0)
    assert kind_total("unfreeze_confirmed", m1) == 1_780
    assert gateway.balances(skus[0].merchant.sub_mchid) == {"frozen": 0, "released": 1_780}
    # Nothing was ever payable by the platform to the merchant.
    assert account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_PAYABLE, m1)) == 0


def test_shares_rate_limited_or_not_yet_settled_are_retried_and_sent_once():
    orders, skus, _, _ = paid_and_completed()
    orders_settle(order_ids=[o.pk for o in orders])
    gateway = sandbox()
    gateway.control.answer("profit_share_create", "FREQUENCY_LIMITED", times=1)
    gateway.control.answer("profit_share_create", "NOT_SETTLED", times=1)

    assert run_open_steps("share") == ["pending", "pending"]
    assert all(s.last_error for s in FundsStep.objects.filter(kind="share"))
    assert run_open_steps("share") == ["processing", "processing"]
    assert run_open_steps("share") == ["confirmed", "confirmed"]
    # Each share reached the platform once.
    assert gateway.balances(gateway.platform_mchid)["released"] == -500 + 210 + 316


def test_a_share_the_gateway_closes_is_an_ops_case_and_no_money_moves():
    orders, _, member, _ = paid_and_completed(coupon_fen=0)
    orders_settle(order_ids=[orders[0].pk])
    sandbox().control.answer("profit_share_create", "CLOSED", times=1)

    run_open_steps("share")
    run_open_steps("share")

    step = FundsStep.objects.get(kind="share")
    assert step.status == "failed"
    assert available(member.pk) == 0
    assert not OrderSettlement.objects.exists()


def test_a_share_is_capped_at_the_maximum_share_ratio(settings):
    settings.SHOP_RULES = {**settings.SHOP_RULES, "MERCHANT_PLATFORM_FEE_BPS": 2_500}
    orders, _, _, _ = paid_and_completed(coupon_fen=0)

    orders_settle(order_ids=[orders[0].pk])

    step = FundsStep.objects.get(kind="share")
    # 30 % of 1,990 = 597: commission 199 + the fee cut from 497 to 398.
    assert (step.commission_fen, step.fee_fen, step.amount_fen) == (199, 398, 597)


def ledger_check_report() -> str:
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    err = io.StringIO()
    try:
        call_command("ledger_check", stdout=io.StringIO(), stderr=err)
    except CommandError as exc:
        return f"{err.getvalue()}\n{exc}"
    return ""


def test_a_refund_after_the_share_returns_the_share_first_then_pays_from_the_frozen_funds():
    from orders.services.refunds import RefundLine, order_refund
    from shop.payments.models import Refund
    from shop.payments.refunds import refund_send

    orders, skus, member, _ = paid_and_completed()
    orders_settle(order_ids=[o.pk for o in orders])
    run_open_steps("share")
    assert run_open_steps("share") == ["confirmed", "confirmed"]
    order, merchant_id = orders[0], skus[0].merchant_id
    gateway = sandbox()

    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=995)],
        reason="仲裁退款",
        key="late-complaint",
        by_ops=True,
    )

    # The commission the refund clawed back (33 + 67 + 12 of 59 / 119 / 21) is returned first.
    share_return = FundsStep.objects.get(kind="share_return")
    assert (share_return.out_no, share_return.amount_fen) == (f"R{refund.pk}", 112)
    assert refund_send(refund_id=refund.pk).status == Refund.Status.PENDING  # waits for it
    assert gateway.balances(skus[0].merchant.sub_mchid)["frozen"] == 1_780  # nothing refunded yet
    assert run_open_steps("share_return") == ["confirmed"]

    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED
    assert kind_total("share_returned", merchant_id) == -112
    assert kind_total("refund_from_frozen", merchant_id) == 995
    # The coupon's share of the refund (⌊199 × 995 / 1,791⌋ = 110) goes back as a subsidy return.
    assert run_open_steps("subsidy_return") == ["confirmed"]
    assert kind_total("subsidy_returned", merchant_id) == 110
    assert frozen(merchant_id) == -receivable(merchant_id) == -(1_780 + 112 - 995 - 110)
    assert gateway.balances(skus[0].merchant.sub_mchid)["frozen"] == 1_780 + 112 - 995 - 110

    assert run_open_steps("unfreeze") == ["processing", "processing"]
    assert run_open_steps("unfreeze") == ["confirmed", "confirmed"]
    assert frozen(merchant_id) == receivable(merchant_id) == 0
    assert ledger_check_report() == ""


def test_day_150_shares_what_is_undisputed_and_hands_the_rest_to_ops():
    from datetime import timedelta

    from django.utils import timezone

    from rebates.services.sharing import funds_deadline_sweep
    from shop.payments.models import Payment

    # Two shared payments: one completed but never settled (a lost task), one never
    # completed (stuck: ops must look).
    completed, _, _, _ = paid_and_completed(coupon_fen=0)
    result, _, _, _ = two_merchant_checkout(coupon_fen=0)
    sandbox_pay(result.payment)
    now = timezone.now()
    Payment.objects.update(paid_at=now - timedelta(days=151))

    acted = funds_deadline_sweep(now)

    # The completed orders are shared now; the unpaid-out ones become ops cases.
    shares = set(FundsStep.objects.filter(kind="share").values_list("order_id", flat=True))
    assert shares == {o.pk for o in completed}
    cases = FundsStep.objects.filter(kind="unfreeze", status="failed")
    assert {c.order_id for c in cases} == {o.pk for o in result.orders}
    assert all("day 150" in c.last_error for c in cases)
    assert acted == 4
    assert funds_deadline_sweep(now) == 0  # nothing twice


def test_a_refund_before_the_share_is_paid_from_the_frozen_funds_and_the_subsidy_returned():
    from orders.services.refunds import RefundLine, order_refund
    from shop.payments.models import Refund
    from shop.payments.refunds import refund_send

    result, skus, _, _ = two_merchant_checkout(coupon_fen=500)
    sandbox_pay(result.payment)
    run_open_steps("subsidy")
    order = min(result.orders, key=lambda o: o.pk)
    merchant_id = skus[0].merchant_id

    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=1_791, qty=1)],
        reason="不想要了",
        key="before-share",
    )

    assert not FundsStep.objects.filter(kind="share_return").exists()  # nothing shared yet
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED
    assert run_open_steps("subsidy_return") == ["confirmed"]
    # Everything went back: the buyer's 1,791 and the platform's 199 subsidy.
    assert kind_total("refund_from_frozen", merchant_id) == 1_791
    assert kind_total("subsidy_returned", merchant_id) == 199
    assert frozen(merchant_id) == receivable(merchant_id) == 0
    assert sandbox().balances(skus[0].merchant.sub_mchid) == {"frozen": 0, "released": 0}
    assert ledger_check_report() == ""


def test_a_merchant_short_of_funds_has_the_refund_advanced_and_charged_to_its_deposit():
    from merchants.models import DepositMovement
    from merchants.tests.factories import pay_deposit
    from orders.services.refunds import RefundLine, order_refund
    from shop.payments.models import Refund
    from shop.payments.refunds import refund_send

    result, skus, _, _ = two_merchant_checkout(coupon_fen=0)
    sandbox_pay(result.payment)
    order = min(result.orders, key=lambda o: o.pk)
    merchant = skus[0].merchant
    pay_deposit(merchant, 50_000)
    sandbox().control.answer("refund", "NOT_ENOUGH", times=1)

    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=1_000)],
        reason="破损",
        key="advanced",
    )
    sent = refund_send(refund_id=refund.pk)

    assert (sent.status, sent.advance_fen) == (Refund.Status.SUCCEEDED, 1_000)
    charged = DepositMovement.objects.get(kind="advance_refund")
    assert (charged.merchant_id, charged.amount_fen, charged.order_ref) == (merchant.pk, -1_000, order.pk)
    # The merchant's frozen funds paid nothing (the receivable got the refund back from the deposit).
    assert frozen(merchant.pk) == -1_990
    assert kind_total("refund_advanced", merchant.pk) == 0
    assert sandbox().balances(merchant.sub_mchid)["frozen"] == 1_990
    assert ledger_check_report() == ""
