"""Property-based: random sequences of payments, refunds (partial and full, before and after
settlement, and repeated ops refunds of settled orders), settlements (some twice), envelope
claims, withdrawals and their payout outcomes, run through the real services on PostgreSQL.

After every step: the ledger balances and every cached balance equals its entries, and
every registered reconciliation check holds (``ledger_check``: wallets, platform accounts,
merchants' receivables and payables, store and member figures, envelope pools, gateway,
refund and payout clearing, deposits); no envelope share is below 1 fen and no envelope pays out more than
it holds, each order is settled at most once, no withdrawal is paid out twice or
beyond what was held, no payment refunds more than it took, and nobody is paid out
more than was ever credited to their wallet. Example counts are small (CI time).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from groupstore.tests.factories import make_store
from orders.models import Order
from orders.services.refunds import RefundLine, order_refund, order_refund_full
from products.tests.factories import SkuFactory
from rebates.models import OrderSettlement, RedEnvelope, RedEnvelopeClaim, Withdrawal
from rebates.services.envelopes import red_envelope_claim, red_envelopes_expire_due
from rebates.services.settlement import orders_settle
from rebates.services.withdrawals import withdrawal_create
from shop.errors import ApplicationError
from shop.ledger.models import Account, Entry, Transaction
from shop.payments.models import Payment, Payout, Refund
from shop.payments.payouts import payout_apply, payout_send, payouts_sweep

from .helpers import make_campaign, make_completed_orders, make_paid_order

pytestmark = pytest.mark.django_db

STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "complete",
                "pay",
                "settle",
                "settle_twice",
                "claim",
                "withdraw",
                "payout_news",
                "expire",
                "refund_part",
                "refund_full",
                "refund_settled",
                "refund_settled",
            ]
        ),
        st.integers(min_value=0, max_value=10_000),
    ),
    min_size=1,
    max_size=10,
)


def _check_invariants(order_ids: list[int], user_ids: list[int]) -> None:
    call_command("ledger_check")
    assert not RedEnvelopeClaim.objects.filter(amount_fen__lt=1).exists()
    for envelope in RedEnvelope.objects.filter(order_id__in=order_ids):
        claimed = envelope.claims.aggregate(total=Sum("amount_fen"))["total"] or 0
        assert claimed + envelope.remaining_fen + envelope.returned_fen == envelope.total_fen
        assert envelope.claims.count() <= envelope.shares
    settled = Transaction.objects.filter(kind="commission_settled", ref_id__in=order_ids)
    assert settled.count() == len(set(settled.values_list("ref_id", flat=True)))
    assert OrderSettlement.objects.filter(order_id__in=order_ids).count() <= len(order_ids)
    for user_id in user_ids:
        held = Account.objects.filter(kind="user_held", owner_id=user_id).values_list(
            "balance_fen", flat=True
        )
        assert all(b >= 0 for b in held)
        paid_out = Transaction.objects.filter(
            kind="payout_sent", entries__account__owner_id=user_id
        ).distinct()
        succeeded = Withdrawal.objects.filter(user_id=user_id, status="succeeded")
        assert paid_out.count() == succeeded.count()  # one payout per paid withdrawal, never two
        credited = (
            Entry.objects.filter(account__kind="user_available", account__owner_id=user_id, amount_fen__gt=0)
            .exclude(transaction__kind__startswith="withdrawal")
            .aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
        sent = succeeded.aggregate(total=Sum("amount_fen"))["total"] or 0
        assert sent <= credited
    for payment_id, amount in Payment.objects.filter(orders__id__in=order_ids).values_list(
        "pk", "amount_fen"
    ):
        refunded = (
            Refund.objects.filter(payment_id=payment_id).aggregate(total=Sum("amount_fen"))["total"] or 0
        )
        assert refunded <= amount
    for order in Order.objects.filter(pk__in=order_ids):
        assert 0 <= order.refunded_fen <= order.paid_fen


def _refund_a_settled_order(n: int, completed: list[int]) -> None:
    """Ops refund part of a settled order (a late complaint): a clawback after settlement,
    as many times as there is money left, each under its own key."""
    settled = sorted(
        OrderSettlement.objects.filter(order_id__in=completed).values_list("order_id", flat=True)
    )
    if not settled:
        return
    order = Order.objects.get(pk=settled[n % len(settled)])
    item = order.items.get()
    left = item.paid_fen - item.refunded_fen
    if left == 0:
        return
    order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=item.pk, amount_fen=min(left, 1 + n * 331 % 1_000))],
        reason="late complaint, ops ruling",
        key=f"ops-{order.pk}-{item.refunded_fen}",
        by_ops=True,
    )


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
# One sequence always runs: refunds before and after settlement, a claim and a withdrawal.
@example(
    steps=[
        ("complete", 0),
        ("complete", 1),
        ("refund_part", 0),
        ("settle", 1),
        ("refund_part", 1),
        ("claim", 2),
        ("withdraw", 0),
        ("payout_news", 0),
        ("refund_full", 0),
        ("refund_full", 1),
    ]
)
# And one of repeated ops refunds after settlement, of one order and of two orders of one
# member in one store (issue 13: each clawback under its own refund's key).
@example(
    steps=[
        ("complete", 0),
        ("complete", 0),
        ("complete", 1),
        ("settle", 2),
        ("refund_settled", 0),
        ("refund_settled", 0),
        ("refund_settled", 1),
        ("claim", 1),
        ("refund_settled", 3),
        ("refund_settled", 1),
    ]
)
def test_random_money_sequences_keep_the_books_straight(steps):
    store, _, members = make_store(members=3)
    make_campaign(budget_fen=900, envelope_fen=300, shares=4, stores=[store])
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=100)
    completed: list[int] = []
    order_ids: list[int] = []
    user_ids = [m.pk for m in members] + [store.owner_id]
    now = timezone.now()

    for op, n in steps:
        member = members[n % len(members)]
        if op == "complete":
            (order,) = make_completed_orders(buyers=[member], store=store, sku=sku)
            completed.append(order.pk)
            order_ids.append(order.pk)
        elif op == "pay":
            order_ids.append(make_paid_order(buyer=member, store=store, sku=sku).pk)
        elif op in ("settle", "settle_twice") and completed:
            batch = completed[: 1 + n % len(completed)]
            orders_settle(order_ids=batch)
            if op == "settle_twice":  # a redelivered task
                assert orders_settle(order_ids=batch) == 0
        elif op == "claim":
            envelope = RedEnvelope.objects.filter(store=store).order_by("?").first()
            if envelope is not None:
                # empty, claimed already or expired: refused, nothing written
                with contextlib.suppress(ApplicationError):
                    red_envelope_claim(envelope_id=envelope.pk, user=member, now=now)
        elif op == "withdraw":
            try:
                withdrawal = withdrawal_create(user=member, amount_fen=100 + n % 500, now=now)
            except ApplicationError:
                continue
            payout_send(payout_id=withdrawal.payout_id, now=now)
        elif op == "payout_news":
            payout = Payout.objects.filter(payee__in=members).order_by("?").first()
            if payout is not None:
                state = ["SUCCESS", "FAIL", "CANCELLED"][n % 3]
                for _ in range(2):  # the gateway retries its callback
                    payout_apply(out_bill_no=payout.out_bill_no, state=state, now=now)
        elif op in ("refund_part", "refund_full") and order_ids:
            order = Order.objects.get(pk=order_ids[n % len(order_ids)])
            by_ops = order.status == Order.Status.COMPLETED  # after completion only ops refund
            with contextlib.suppress(ApplicationError):  # fully refunded already: refused, nothing written
                if op == "refund_full":
                    order_refund_full(order_id=order.pk, reason="property", by_ops=by_ops)
                else:
                    item = order.items.get()
                    left = item.paid_fen - item.refunded_fen
                    order_refund(
                        order_id=order.pk,
                        lines=[RefundLine(order_item_id=item.pk, amount_fen=1 + n % max(left, 1))],
                        reason="property",
                        key=f"prop-{order.pk}-{item.refunded_fen}",
                        by_ops=by_ops,
                    )
        elif op == "refund_settled":
            _refund_a_settled_order(n, completed)
        elif op == "expire":
            now = now + timedelta(hours=25)
            red_envelopes_expire_due(now)
            payouts_sweep(now)
        _check_invariants(order_ids, user_ids)
