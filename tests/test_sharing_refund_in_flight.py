"""A refund of a shared order while its share is written but not yet FINISHED (found by
rebates/tests/test_properties_sharing.py): the commission the refund undoes must still go back
to the merchant — by a share return once the share has finished — and the platform keeps only
the share's own fee, never the refunded commission."""

import pytest

from merchants.models import DepositMovement
from orders.services.refunds import RefundLine, order_refund, order_refund_full
from orders.tests.helpers import sandbox_pay
from rebates.models import OrderSettlement
from rebates.services.settlement import orders_settle
from shop.payments.models import FundsStep, Refund
from shop.payments.refunds import refund_send

from .profit_sharing import complete, frozen, receivable, run_open_steps, sandbox, two_merchant_checkout
from .test_sharing_settlement import ledger_check_report

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def shared_order_with_share_processing():
    result, (sku,), _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    sandbox_pay(result.payment)
    (order,) = result.orders
    order = complete(order)
    orders_settle(order_ids=[order.pk])
    sandbox().control.processing_polls(2)
    assert run_open_steps("share") == ["processing"]  # accepted, not FINISHED yet
    return order, sku.merchant


def test_a_refund_while_the_share_is_processing_gets_its_commission_back_after_the_share():
    order, merchant = shared_order_with_share_processing()

    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=1_000)],
        reason="late complaint",
        key="mid-share",
        by_ops=True,
    )

    # The commission undone (199 − ⌊59×990/1990⌋ − ⌊119×990/1990⌋ − ⌊21×990/1990⌋ = 101) is
    # returned once the share has finished; the buyer is refunded after that.
    share_return = FundsStep.objects.get(kind="share_return")
    assert (share_return.out_no, share_return.amount_fen) == (f"R{refund.pk}", 101)
    assert refund_send(refund_id=refund.pk).status == Refund.Status.PENDING
    assert run_open_steps("share_return") == ["pending"]  # waits for the share
    assert run_open_steps("share") == ["processing"]
    assert run_open_steps("share") == ["confirmed"]
    assert run_open_steps("share_return") == ["confirmed"]
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED

    # The platform keeps the share's fee (11), not the refunded commission as well.
    assert OrderSettlement.objects.get(order_id=order.pk).platform_fee_fen == 11
    for _ in range(3):  # processing twice, then FINISHED
        run_open_steps("unfreeze")
    assert FundsStep.objects.get(kind="unfreeze").status == "confirmed"
    assert frozen(merchant.pk) == receivable(merchant.pk) == 0
    # The merchant keeps the sale less the refund, the commission left (98) and the fee.
    assert sandbox().balances(merchant.sub_mchid)["released"] == 1_990 - 1_000 - 98 - 11
    assert ledger_check_report() == ""


def test_a_full_refund_while_the_share_is_processing_still_books_the_finished_share():
    order, merchant = shared_order_with_share_processing()

    refund = order_refund_full(order_id=order.pk, reason="late complaint", by_ops=True)

    assert FundsStep.objects.get(kind="share_return").amount_fen == 199  # all the commission
    run_open_steps("share")
    assert run_open_steps("share") == ["confirmed"]
    assert run_open_steps("share_return") == ["confirmed"]
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED

    # The share that finished is on the books although the order is refunded by then.
    assert OrderSettlement.objects.get(order_id=order.pk).platform_fee_fen == 11
    # The frozen funds (1,990 − 210 + 199) are 11 short of the refund: the platform advanced
    # it all and charged the deposit; the 1,979 frozen are released to the merchant.
    assert Refund.objects.get(pk=refund.pk).advance_fen == 1_990
    assert DepositMovement.objects.get(kind="advance_refund").amount_fen == -1_990
    assert frozen(merchant.pk) == -receivable(merchant.pk) == -1_979
    for _ in range(3):
        run_open_steps("unfreeze")
    assert frozen(merchant.pk) == receivable(merchant.pk) == 0
    assert sandbox().balances(merchant.sub_mchid) == {"frozen": 0, "released": 1_979}
    assert ledger_check_report() == ""


def test_a_refund_while_the_subsidy_is_in_flight_returns_the_coupons_part_once_it_arrives():
    result, (sku,), _, _ = two_merchant_checkout(coupon_fen=500, merchants=1)
    sandbox_pay(result.payment)
    (order,) = result.orders  # its subsidy (B<order>, 500) written, not yet sent
    merchant = sku.merchant

    refund = order_refund_full(order_id=order.pk, reason="不想要了")
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED  # 1,490 from the funds

    subsidy_return = FundsStep.objects.get(kind="subsidy_return")
    assert (subsidy_return.out_no, subsidy_return.amount_fen) == (f"BR{refund.pk}", 500)
    assert run_open_steps("subsidy_return") == ["pending"]  # waits for the subsidy itself
    assert run_open_steps("subsidy") == ["confirmed"]
    assert run_open_steps("subsidy_return") == ["confirmed"]
    # The platform's coupon money came back: nothing is left frozen or owed.
    assert frozen(merchant.pk) == receivable(merchant.pk) == 0
    assert sandbox().balances(merchant.sub_mchid) == {"frozen": 0, "released": 0}
    assert ledger_check_report() == ""


def test_a_full_refund_after_the_share_and_before_the_unfreeze_releases_nothing_and_does_not_crash():
    """The share's fee is not returned, so a full refund after the share takes it from the
    merchant's released money: nothing is left frozen for the order, and its unfreeze (written
    when the share finished) confirms with 0 — it used to write -fee (-11) into the step and
    fail on the step's amount >= 0 constraint (IntegrityError), on every retry."""
    from rebates.tests.helpers import make_paid_order

    earlier, merchant = shared_order_with_share_processing()
    for _ in range(6):  # the earlier order shared and unfrozen: 1,780 released
        run_open_steps()
    assert sandbox().balances(merchant.sub_mchid) == {"frozen": 0, "released": 1_780}
    order = complete(make_paid_order(buyer=earlier.buyer, store=earlier.store, sku=earlier.items.get().sku))
    orders_settle(order_ids=[order.pk])
    for _ in range(3):
        run_open_steps("share")
    assert FundsStep.objects.get(kind="unfreeze", order_id=order.pk).status == "pending"

    refund = order_refund_full(order_id=order.pk, reason="late complaint", by_ops=True)
    for _ in range(3):
        run_open_steps("share_return")
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED
    for _ in range(4):
        run_open_steps("unfreeze")

    unfreeze = FundsStep.objects.get(kind="unfreeze", order_id=order.pk)
    assert (unfreeze.status, unfreeze.amount_fen) == ("confirmed", 0)
    # The 1,990 came from the order's 1,979 and 11 of the released money.
    assert sandbox().balances(merchant.sub_mchid) == {"frozen": 0, "released": 1_780 - 11}
    assert frozen(merchant.pk) == -receivable(merchant.pk) == 11  # the fee, paid from released money
    assert ledger_check_report() == ""
