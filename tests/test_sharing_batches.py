"""Funds steps run in batches (shop/payments/steps.py): one claim for a batch, outcomes
recorded together, a batch of confirmed shares settled as one settlement batch — and still
exactly once: the claim is exclusive for its lease, confirmation is a compare-and-set, one
step's failing handler holds up no other."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from orders.tests.helpers import sandbox_pay
from rebates.models import OrderSettlement, SettlementRun
from rebates.services.settlement import order_share_finished, orders_settle, orders_share_finished
from shop.ledger.models import Transaction
from shop.payments import steps
from shop.payments.models import FundsStep

from .profit_sharing import complete, sandbox, two_merchant_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def settled_shares(payments: int = 3) -> list[int]:
    """``payments`` two-merchant checkouts, paid, completed and settled: their share ids."""
    orders = []
    for _ in range(payments):
        result, _, _, _ = two_merchant_checkout(coupon_fen=0)
        sandbox_pay(result.payment)
        orders += [complete(order) for order in result.orders]
    orders_settle(order_ids=[o.pk for o in orders])
    return list(FundsStep.objects.filter(kind="share").order_by("pk").values_list("pk", flat=True))


def due(ids: list[int]) -> None:
    FundsStep.objects.filter(pk__in=ids).update(next_attempt_at=None)


def test_a_batch_of_shares_is_sent_polled_and_settled_in_one_settlement_batch():
    ids = settled_shares()
    sandbox().control.processing_polls(1)

    assert steps.funds_steps_send(step_ids=ids) == {"processing": 6}
    due(ids)
    runs_before = SettlementRun.objects.count()
    assert steps.funds_steps_send(step_ids=ids) == {"confirmed": 6}

    # One settlement run for the six orders, each settled once, each with its unfreeze.
    assert SettlementRun.objects.count() == runs_before + 1
    assert SettlementRun.objects.latest("pk").orders_settled == 6
    assert OrderSettlement.objects.count() == 6
    unfreezes = list(FundsStep.objects.filter(kind="unfreeze").values_list("pk", flat=True))
    assert len(unfreezes) == 6
    assert steps.funds_steps_send(step_ids=unfreezes) == {"processing": 6}
    due(unfreezes)
    assert steps.funds_steps_send(step_ids=unfreezes) == {"confirmed": 6}
    assert Transaction.objects.filter(kind="unfreeze_confirmed").count() == 6
    call_command("ledger_check")


def test_a_claim_is_exclusive_until_its_lease_ends(settings):
    settings.FUNDS_STEP_LEASE_S = 7
    ids = settled_shares(payments=1)
    now = timezone.now()

    assert sorted(steps._claim(ids, now)) == ids
    assert steps._claim(ids, now) == {}  # a second sender gets nothing
    assert steps._claim(ids, now + timedelta(seconds=6)) == {}
    assert {s.next_attempt_at for s in FundsStep.objects.filter(pk__in=ids)} == {now + timedelta(seconds=7)}
    assert sorted(steps._claim(ids, now + timedelta(seconds=7))) == ids  # a killed sender's come back


def test_confirming_a_batch_twice_posts_each_share_once():
    ids = settled_shares()
    sandbox().control.processing_polls(1)
    steps.funds_steps_send(step_ids=ids)
    due(ids)
    steps.funds_steps_send(step_ids=ids)

    assert steps.funds_steps_confirm({pk: "" for pk in ids}) == {pk: "confirmed" for pk in ids}
    assert Transaction.objects.filter(kind="share_finished").count() == 6
    assert FundsStep.objects.filter(kind="unfreeze").count() == 6


def test_one_failing_handler_holds_up_no_other_step_of_the_batch():
    ids = settled_shares()
    bad = ids[2]

    def one(step):
        if step.pk == bad:
            raise RuntimeError("boom")
        order_share_finished(step)

    def many(batch):
        if any(s.pk == bad for s in batch):
            raise RuntimeError("boom")
        orders_share_finished(batch)

    with (
        steps.STEP_CONFIRMED.override(FundsStep.Kind.SHARE, one),
        steps.STEPS_CONFIRMED.override(FundsStep.Kind.SHARE, many),
        pytest.raises(RuntimeError),
    ):
        steps.funds_steps_confirm({pk: "" for pk in ids})

    assert set(FundsStep.objects.filter(status="confirmed").values_list("pk", flat=True)) == set(ids) - {bad}
    assert FundsStep.objects.get(pk=bad).status == "pending"  # open: the sweeper tries it again
    assert OrderSettlement.objects.count() == 5


def test_a_batch_hands_back_what_it_could_not_send_within_half_its_lease(settings):
    settings.FUNDS_STEP_LEASE_S = 0  # half of it is already over when the first call is due
    ids = settled_shares(payments=1)

    assert steps.funds_steps_send(step_ids=ids) == {"pending": 2}
    handed_back = FundsStep.objects.filter(pk__in=ids).values_list("next_attempt_at", flat=True)
    assert list(handed_back) == [None, None]
    gateway = sandbox()
    assert gateway.balances(gateway.platform_mchid)["released"] == 0  # nothing was sent


def test_a_rate_limited_step_is_retried_seconds_later_not_minutes():
    ids = settled_shares(payments=1)
    sandbox().control.answer("profit_share_create", "FREQUENCY_LIMITED", times=1)
    before = timezone.now()

    assert steps.funds_steps_send(step_ids=ids) == {"pending": 1, "processing": 1}
    limited = FundsStep.objects.get(status="pending")
    assert "FREQUENCY_LIMITED" in limited.last_error
    assert limited.next_attempt_at <= before + steps.RATE_RETRY_AFTER + timedelta(seconds=5)


def test_a_first_error_after_good_polls_waits_30_s_and_a_streak_of_errors_doubles():
    """Polls count as attempts: a step polled a few times that meets its first gateway error
    is not an old failure (a killed worker's sandbox lock, a WeChat hiccup): 30 s, then
    doubling while the errors go on."""
    step = FundsStep.objects.get(pk=settled_shares(payments=1)[0])
    FundsStep.objects.filter(pk=step.pk).update(
        attempts=4, next_attempt_at=None, last_error=""
    )  # polled before
    sandbox().control.answer("profit_share_create", "FAIL", times=2)  # WeChat's SYSTEM_ERROR

    first_at = timezone.now()
    steps.funds_steps_send(step_ids=[step.pk])
    step.refresh_from_db()
    assert "SYSTEM_ERROR" in step.last_error
    assert step.next_attempt_at <= first_at + steps.RETRY_AFTER + timedelta(seconds=5)

    FundsStep.objects.filter(pk=step.pk).update(next_attempt_at=None)
    again_at = timezone.now()
    steps.funds_steps_send(step_ids=[step.pk])
    step.refresh_from_db()
    assert step.next_attempt_at >= again_at + steps.RETRY_AFTER * 2**5 - timedelta(seconds=5)
