"""Property-based: random sequences of money operations on orders paid by profit sharing
(docs/merchant-money.md), run through the real services against the e-commerce sandbox.

The sequence buys baskets from two merchants (some with a platform coupon: a subsidy), pays,
completes and settles them (share rows), runs the gateway steps as the tasks would while the
sandbox is scripted to answer shares ``PROCESSING`` for a few polls, ``FREQUENCY_LIMITED`` or
``NOT_SETTLED`` (retried later), ``CLOSED`` (failed for good, an ops case, sometimes sent
again), share returns ``PROCESSING``, and refunds ``NOT_ENOUGH`` (the merchant's funds are
short: the platform advances the refund and charges the deposit). Refunds, partial and full,
repeated, come before the share, while it is in flight, after it (the share returned first,
then the buyer refunded, then the coupon's part returned) and after the unfreeze. Statements
of the day are written between steps.

After every step:
- the WHOLE ``ledger_check`` holds: balanced transactions, balances equal to their entries,
  every registered reconciliation check (``ledger_problems`` runs what the command runs);
- exact wallets: each beneficiary's available balance is the net of its *settled* accruals
  and its pending balance the net of its *pending* ones, and an accrual of a shared order is
  settled only if its share is ``FINISHED`` (confirmed) — nobody is paid before the gateway
  says so; an order settles at most once;
- every refund the platform advanced is charged to the merchant's deposit, to the fen;
- no order refunds more than was paid, no payment more than it took;
- each statement written satisfies its identity and every figure is the sum of its lines.

Once the gateway has nothing in flight (the ``drain`` step and the end of every example):
each merchant's money at the sandbox (frozen + released) is what the ledger's
``merchant_frozen`` says plus what was unfrozen, and a merchant whose orders are all unfrozen
has its frozen funds and receivable as exact mirrors.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from groupstore.tests.factories import make_store
from merchants.models import DepositMovement
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from orders.models import Order
from orders.services.checkout import order_create
from orders.services.refunds import RefundLine, order_refund, order_refund_full
from orders.tests.helpers import ADDRESS, coupon, sandbox_pay
from products.tests.factories import SkuFactory
from rebates.models import Accrual, MerchantStatement, OrderSettlement
from rebates.services.settlement import orders_settle
from rebates.services.statements import SHANGHAI, merchant_statements_write
from rebates.tests.test_services_statements import assert_statement_is_sound
from shop.errors import ApplicationError
from shop.ledger.checks import registered_checks
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance, drifted_accounts, unbalanced_transactions
from shop.ledger.services import AccountRef
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
from shop.payments.models import FundsStep, Payment, Refund
from shop.payments.refunds import refund_send
from shop.payments.steps import funds_step_retry, funds_step_run
from tests.profit_sharing import complete

pytestmark = pytest.mark.django_db

OPS = (
    "buy",
    "buy",
    "complete",
    "complete",
    "settle",
    "run",
    "run",
    "processing",  # shares (unfreezes, returns) answer PROCESSING for a few polls
    "rate_limited",  # the next share answers FREQUENCY_LIMITED or NOT_SETTLED
    "share_fails",  # the next share is CLOSED at the gateway: failed for good
    "retry_failed",  # ops send a failed step again (same out_no)
    "slow_return",  # the next share return answers PROCESSING
    "short",  # the next refund finds the merchant's funds short: advanced
    "refund_part",
    "refund_part",
    "refund_full",
    "send_refunds",
    "statements",
    "drain",
)
STEPS = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(min_value=0, max_value=10_000)),
    min_size=1,
    max_size=14,
)
PRICES = (1_990, 2_990)
# Steps that only script the sandbox's next answers: they write nothing to the books, so the
# checks after them would repeat the previous step's (skipped to keep the run time down).
SCRIPTING = frozenset({"processing", "rate_limited", "share_fails", "slow_return", "short"})


def ledger_problems() -> list[str]:
    """Everything ``manage.py ledger_check`` checks, as a list of problems (empty: it holds)."""
    problems = [f"transaction #{tx} out of balance by {total}" for tx, total in unbalanced_transactions()]
    problems += [
        f"account #{account.pk} ({account}) shows {account.balance_fen}, entries {total}"
        for account, total in drifted_accounts()
    ]
    for name, check in registered_checks():
        problems += [f"{name}: {problem}" for problem in check()]
    return problems


def _balance(ref: AccountRef) -> int:
    return account_balance(ref=ref)


class World:
    """One example's store, members, two merchants with a SKU each, and what was bought."""

    def __init__(self) -> None:
        self.store, _, self.members = make_store(members=2)
        self.skus = [
            SkuFactory(
                product__merchant=MerchantStaffFactory().merchant,
                price_fen=price,
                commission_bps=1_000,
                on_hand=500,
            )
            for price in PRICES
        ]
        self.merchants = [sku.merchant for sku in self.skus]
        for merchant in self.merchants:
            pay_deposit(merchant, 2_000)
        self.orders: list[int] = []
        self.keys = 0
        self.gateway = SandboxEcommerceGateway()

    @property
    def users(self) -> list[int]:
        return [m.pk for m in self.members] + [self.store.owner_id]

    def buy(self, n: int) -> None:
        member = self.members[n % 2]
        skus = [self.skus[n % 2]] if n % 3 else self.skus  # one merchant, or a combined payment
        ticket = coupon(user=member, amount_fen=200 + n % 500) if n % 4 else None
        # An advance charged to the deposit may take it below zero: the merchant's listings
        # are suspended and the checkout refused (409), nothing written.
        try:
            result = self._checkout(member, skus, ticket)
        except ApplicationError:
            return
        sandbox_pay(result.payment)
        self.orders += sorted(o.pk for o in result.orders)

    def _checkout(self, member, skus, ticket):
        return order_create(
            buyer=member,
            store_id=self.store.pk,
            items=[{"sku_id": sku.pk, "qty": 1} for sku in skus],
            address=ADDRESS,
            gateway="sandbox",
            coupon_id=ticket.pk if ticket else None,
        )

    def pick(self, n: int, *statuses: str) -> Order | None:
        candidates = list(Order.objects.filter(pk__in=self.orders, status__in=statuses).order_by("pk"))
        return candidates[n % len(candidates)] if candidates else None

    def refund(self, n: int, *, full: bool) -> None:
        order = self.pick(n, "paid", "completed")
        if order is None:
            return
        by_ops = order.status == Order.Status.COMPLETED  # after completion only ops refund
        if full:
            refund = order_refund_full(order_id=order.pk, reason="property", by_ops=by_ops)
        else:
            item = order.items.get()
            left = item.paid_fen - item.refunded_fen
            self.keys += 1
            refund = order_refund(
                order_id=order.pk,
                lines=[RefundLine(order_item_id=item.pk, amount_fen=1 + n % max(left // 2, 1))],
                reason="property",
                key=f"prop-share-{uuid.uuid4().hex[:8]}-{self.keys}",
                by_ops=by_ops,
            )
        if refund is not None:
            refund_send(refund_id=refund.pk)  # the after-commit task

    def run_open_steps(self) -> None:
        """Run this world's open steps once, as their tasks would, ignoring back-off times."""
        steps = FundsStep.objects.filter(order_id__in=self.orders, status__in=FundsStep.OPEN)
        steps.update(next_attempt_at=None)
        for step_id in steps.order_by("pk").values_list("pk", flat=True):
            funds_step_run(step_id=step_id)

    def send_refunds(self) -> None:
        for refund_id in Refund.objects.filter(
            part__order_id__in=self.orders, status__in=Refund.IN_FLIGHT
        ).values_list("pk", flat=True):
            refund_send(refund_id=refund_id)

    def in_flight(self) -> bool:
        return (
            FundsStep.objects.filter(order_id__in=self.orders, status__in=FundsStep.OPEN).exists()
            or Refund.objects.filter(part__order_id__in=self.orders, status__in=Refund.IN_FLIGHT).exists()
        )

    def drain(self) -> bool:
        """Run every open step and send every refund in flight until the gateway is quiet
        (at most a few rounds: a step may wait for another). True when nothing is left."""
        for _ in range(8):
            if not self.in_flight():
                return True
            self.run_open_steps()
            self.send_refunds()
        return not self.in_flight()

    def statements(self) -> None:
        today = timezone.now().astimezone(SHANGHAI).date()
        merchant_statements_write(date=today)
        for statement in MerchantStatement.objects.filter(
            date=today, merchant__in=[m.pk for m in self.merchants]
        ):
            assert_statement_is_sound(statement)
            frozen = _balance(AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, statement.merchant_id))
            assert statement.closing_fen == -frozen


def _net(accruals) -> int:
    return (
        accruals.aggregate(total=Sum("amount_fen") - Sum("cancelled_fen") - Sum("clawed_back_fen"))["total"]
        or 0
    )


def check_invariants(world: World) -> None:
    assert ledger_problems() == []
    orders = world.orders
    # Nobody is paid before the gateway says FINISHED.
    confirmed = set(
        FundsStep.objects.filter(
            order_id__in=orders, kind=FundsStep.Kind.SHARE, status=FundsStep.Status.CONFIRMED
        ).values_list("order_id", flat=True)
    )
    settled = set(
        Accrual.objects.filter(order_id__in=orders, status=Accrual.Status.SETTLED).values_list(
            "order_id", flat=True
        )
    )
    assert settled <= confirmed
    assert set(OrderSettlement.objects.filter(order_id__in=orders).values_list("order_id", flat=True)) <= (
        confirmed
    )
    # Exact wallets: available = the net of settled accruals, pending = the net of pending ones.
    for user_id in world.users:
        mine = Accrual.objects.filter(beneficiary_id=user_id).exclude(kind=Accrual.Kind.PLATFORM)
        available = _balance(AccountRef.user(Account.Kind.USER_AVAILABLE, user_id))
        pending = _balance(AccountRef.user(Account.Kind.USER_PENDING, user_id))
        assert available == _net(mine.filter(status=Accrual.Status.SETTLED)), user_id
        assert pending == _net(mine.filter(status=Accrual.Status.PENDING)), user_id
    # Each advance is charged to the deposit, to the fen, once.
    for merchant in world.merchants:
        advanced = (
            Refund.objects.filter(
                part__merchant_id=merchant.pk, status=Refund.Status.SUCCEEDED, advance_fen__gt=0
            ).aggregate(total=Sum("advance_fen"))["total"]
            or 0
        )
        charged = (
            DepositMovement.objects.filter(
                merchant=merchant, kind=DepositMovement.Kind.ADVANCE_REFUND
            ).aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
        assert charged == -advanced
    for order in Order.objects.filter(pk__in=orders):
        assert 0 <= order.refunded_fen <= order.paid_fen
    for payment in Payment.objects.filter(orders__id__in=orders).distinct():
        refunded = payment.refunds.aggregate(total=Sum("amount_fen"))["total"] or 0
        assert refunded <= payment.amount_fen


def check_gateway_agrees(world: World) -> None:
    """Nothing in flight: the sandbox holds for each merchant (frozen + released) what the
    ledger's merchant_frozen says (negated) plus what was unfrozen; a merchant whose every
    order is unfrozen has frozen funds and receivable as mirrors."""
    for merchant in world.merchants:
        at_gateway = world.gateway.balances(merchant.sub_mchid)
        frozen = _balance(AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant.pk))
        unfrozen = (
            FundsStep.objects.filter(
                merchant_id=merchant.pk, kind=FundsStep.Kind.UNFREEZE, status=FundsStep.Status.CONFIRMED
            ).aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
        assert at_gateway["frozen"] + at_gateway["released"] == -frozen + unfrozen, merchant.pk
        theirs = Order.objects.filter(pk__in=world.orders, merchant=merchant)
        unfrozen_orders = FundsStep.objects.filter(
            kind=FundsStep.Kind.UNFREEZE, status=FundsStep.Status.CONFIRMED
        ).values("order_id")
        if theirs.exists() and not theirs.exclude(pk__in=unfrozen_orders).exists():
            # A subsidy return that failed (the merchant's funds were short: an ops case) is
            # owed on the receivable and was never taken from the funds.
            failed = FundsStep.objects.filter(merchant_id=merchant.pk, status=FundsStep.Status.FAILED)
            owed = failed.filter(kind=FundsStep.Kind.SUBSIDY_RETURN).aggregate(t=Sum("amount_fen"))["t"] or 0
            receivable = _balance(AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant.pk))
            assert frozen + receivable == -owed, merchant.pk
    # Exact merchant money: a confirmed share's fee is what settlement made revenue, and
    # every fen of commission undone after the share was written went back by share returns.
    for share in FundsStep.objects.filter(
        order_id__in=world.orders, kind=FundsStep.Kind.SHARE, status=FundsStep.Status.CONFIRMED
    ):
        settlement = OrderSettlement.objects.get(order_id=share.order_id)
        assert settlement.platform_fee_fen == share.fee_fen, share.out_no
        returned = (
            FundsStep.objects.filter(
                order_id=share.order_id, kind=FundsStep.Kind.SHARE_RETURN, status=FundsStep.Status.CONFIRMED
            ).aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
        assert returned == share.commission_fen - _net(Accrual.objects.filter(order_id=share.order_id)), (
            share.out_no
        )


def _step(world: World, op: str, n: int) -> None:
    control = world.gateway.control
    if op == "buy":
        world.buy(n)
    elif op == "complete":
        order = world.pick(n, "paid")
        if order is not None:
            complete(order)
    elif op == "settle":
        done = Order.objects.filter(pk__in=world.orders, status="completed").values_list("pk", flat=True)
        if done:
            orders_settle(order_ids=list(done))
    elif op == "run":
        world.run_open_steps()
    elif op == "processing":
        control.processing_polls(1 + n % 3)
    elif op == "rate_limited":
        control.answer("profit_share_create", ("FREQUENCY_LIMITED", "NOT_SETTLED")[n % 2], times=1 + n % 2)
    elif op == "share_fails":
        control.answer("profit_share_create", "CLOSED", times=1)
    elif op == "retry_failed":
        failed = FundsStep.objects.filter(order_id__in=world.orders, status=FundsStep.Status.FAILED)
        step = failed.order_by("pk")[n % failed.count()] if failed.exists() else None
        if step is not None:
            funds_step_retry(step_id=step.pk)
    elif op == "slow_return":
        control.answer("profit_share_return_create", "PROCESSING", times=1)
    elif op == "short":
        control.answer("refund", "NOT_ENOUGH", times=1)
    elif op in ("refund_part", "refund_full"):
        with contextlib.suppress(ApplicationError):  # fully refunded already: refused, nothing written
            world.refund(n, full=op == "refund_full")
    elif op == "send_refunds":
        world.send_refunds()
    elif op == "statements":
        world.statements()
    elif op == "drain" and world.drain():
        check_gateway_agrees(world)


def run_sequence(steps) -> World:
    # Each example its own sandbox (its scripted answers and balances start empty).
    with override_settings(
        MERCHANT_FUNDS="profit_sharing", SANDBOX_ECOMMERCE_NAMESPACE=f"prop-{uuid.uuid4().hex}"
    ):
        world = World()
        for op, n in steps:
            _step(world, op, n)
            if op not in SCRIPTING:
                check_invariants(world)
        if world.drain():
            check_gateway_agrees(world)
        check_invariants(world)
        world.statements()
    return world


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
# The whole path once, always: a subsidised share PROCESSING then FINISHED, the member paid
# only then, repeated partial refunds after it (share returned, buyer refunded, subsidy
# returned), one the merchant cannot pay (advanced, charged to the deposit), the unfreeze, a
# refund after it, and the day's statements.
@example(
    steps=[
        ("buy", 1),
        ("buy", 3),
        ("complete", 0),
        ("complete", 0),
        ("processing", 2),
        ("run", 0),
        ("settle", 0),
        ("run", 0),
        ("run", 0),
        ("statements", 0),
        ("run", 0),
        ("refund_part", 0),
        ("run", 0),
        ("send_refunds", 0),
        ("run", 0),
        ("short", 0),
        ("refund_part", 1),
        ("drain", 0),
        ("refund_part", 0),
        ("refund_full", 1),
        ("drain", 0),
        ("statements", 0),
    ]
)
# Shares retried after FREQUENCY_LIMITED / NOT_SETTLED, one that fails for good and is sent
# again, a share return that is PROCESSING, and a full refund after the unfreeze.
@example(
    steps=[
        ("buy", 0),
        ("complete", 0),
        ("complete", 0),
        ("run", 0),
        ("settle", 0),
        ("rate_limited", 1),
        ("run", 0),
        ("run", 0),
        ("share_fails", 0),
        ("buy", 5),
        ("complete", 2),
        ("settle", 0),
        ("drain", 0),
        ("retry_failed", 0),
        ("drain", 0),
        ("slow_return", 0),
        ("refund_part", 0),
        ("refund_part", 0),
        ("send_refunds", 0),
        ("drain", 0),
        ("refund_full", 2),
        ("drain", 0),
        ("statements", 0),
    ]
)
# Refunds while the share is written but not yet confirmed (a late complaint mid-flight).
@example(
    steps=[
        ("buy", 1),
        ("complete", 0),
        ("run", 0),
        ("settle", 0),
        ("processing", 2),
        ("run", 0),
        ("refund_part", 0),
        ("drain", 0),
        ("buy", 1),
        ("complete", 1),
        ("settle", 0),
        ("refund_full", 1),
        ("drain", 0),
    ]
)
def test_random_profit_sharing_sequences_keep_every_book_straight(steps):
    run_sequence(steps)
