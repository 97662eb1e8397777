"""Daily merchant statements: exact figures from the ledger, the identity, each figure the sum
of its lines, a day's closing the next day's opening, re-runs, and the sweeper.

The postings come from ``frozen_funds``, a stand-in for the profit-sharing services."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db.models import Sum

from merchants.models import DepositMovement
from merchants.tests.factories import MerchantFactory
from rebates.errors import StatementsDoNotBalance
from rebates.models import MerchantStatement, MerchantStatementLine
from rebates.services.statements import (
    SHANGHAI,
    merchant_statements_write,
    merchant_statements_write_due,
)
from rebates.tests import frozen_funds as ff
from shop import sweepers
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post

pytestmark = pytest.mark.django_db

D0, D1, D2, D3 = (date(2026, 11, d) for d in (1, 2, 3, 4))
IDENTITY_IN = ("sales_fen", "subsidy_fen")
IDENTITY_OUT = ("gateway_fee_fen", "commission_fen", "platform_fee_fen", "refunds_fen", "released_fen")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def assert_statement_is_sound(statement: MerchantStatement) -> None:
    """The identity, and every figure the sum of its lines."""
    s = statement
    assert s.closing_fen == (
        s.opening_fen + sum(getattr(s, f) for f in IDENTITY_IN) - sum(getattr(s, f) for f in IDENTITY_OUT)
    )
    by_figure: dict[str, int] = dict.fromkeys(set(MerchantStatementLine.FIGURE_OF_KIND.values()), 0)
    for kind, total in s.lines.values_list("kind").annotate(total=Sum("amount_fen")):
        by_figure[MerchantStatementLine.FIGURE_OF_KIND[kind]] += total
    for figure, total in by_figure.items():
        assert getattr(s, figure) == total, figure


def a_busy_day(merchant_id: int, other_id: int) -> None:
    """Order 4 paid the day before; orders 1–3 of every kind on D1; order 4 refunded on D2."""
    m = merchant_id
    ff.order_paid_shared(merchant_id=m, order_id=4, paid_fen=7_000, at=at(D0, 12))
    # Order 1: paid with a coupon, subsidised, shared, released.
    ff.order_paid_shared(merchant_id=m, order_id=1, paid_fen=10_000, coupon_fen=500, at=at(D1, 0, 0))
    ff.subsidy_paid(merchant_id=m, order_id=1, amount_fen=500, at=at(D1, 9, 1))
    ff.share_finished(merchant_id=m, order_id=1, commission_fen=1_000, fee_fen=300, at=at(D1, 15))
    ff.unfreeze_confirmed(merchant_id=m, order_id=1, amount_fen=9_200, at=at(D1, 16))
    # Order 2: paid, part refunded from frozen funds, a gateway fee.
    ff.order_paid_shared(merchant_id=m, order_id=2, paid_fen=5_000, at=at(D1, 10))
    ff.refund_from_frozen(merchant_id=m, order_id=2, amount_fen=2_000, at=at(D1, 11))
    ff.gateway_fee(merchant_id=m, order_id=2, amount_fen=30, at=at(D1, 20))
    # Order 3: shared, then refunded after the share: the share returned first.
    ff.order_paid_shared(merchant_id=m, order_id=3, paid_fen=3_000, at=at(D1, 10, 30))
    ff.subsidy_paid(merchant_id=m, order_id=3, amount_fen=200, at=at(D1, 10, 31))
    ff.share_finished(merchant_id=m, order_id=3, commission_fen=300, fee_fen=90, at=at(D1, 12))
    ff.share_returned(merchant_id=m, order_id=3, amount_fen=150, at=at(D1, 13))
    ff.refund_from_frozen(merchant_id=m, order_id=3, amount_fen=1_500, at=at(D1, 13, 5))
    ff.subsidy_returned(merchant_id=m, order_id=3, amount_fen=100, at=at(D1, 13, 6))
    # The other merchant; and the next day, at its very first instant.
    ff.order_paid_shared(merchant_id=other_id, order_id=5, paid_fen=2_000, at=at(D1, 23, 59))
    ff.refund_from_frozen(merchant_id=m, order_id=4, amount_fen=7_000, at=at(D2, 0, 0))


def test_a_busy_day_gives_exact_figures_lines_and_the_identity():
    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)

    assert merchant_statements_write(date=D1) == 2

    s = MerchantStatement.objects.get(merchant=merchant, date=D1)
    assert (
        s.opening_fen,
        s.sales_fen,
        s.subsidy_fen,
        s.gateway_fee_fen,
        s.commission_fen,
        s.platform_fee_fen,
        s.refunds_fen,
        s.released_fen,
        s.closing_fen,
        s.returned_fen,
        s.held_fen,
        s.refunds_after_release_fen,
        s.deductions_fen,
    ) == (7_000, 18_000, 600, 30, 1_300, 390, 3_350, 9_200, 11_330, 150, 0, 0, 0)
    assert_statement_is_sound(s)
    # closing is the merchant_frozen balance at the day's end, negated (D2's refund is after it).
    assert s.closing_fen == -(ff.frozen_balance(merchant.pk) - 7_000)
    # The share's split, a line per part, each pointing at its own ledger entry.
    shares = list(
        s.lines.filter(order_id=1, kind__startswith="share_").values_list(
            "kind", "amount_fen", "entry__account__kind"
        )
    )
    assert shares == [
        ("share_commission", 1_000, "merchant_frozen"),
        ("share_platform_fee", 300, "merchant_receivable"),
    ]
    assert s.lines.count() == 16  # 13 entries on merchant_frozen; a share makes 2 lines, a share returned 2
    other_statement = MerchantStatement.objects.get(merchant=other, date=D1)
    assert (other_statement.opening_fen, other_statement.sales_fen, other_statement.closing_fen) == (
        0,
        2_000,
        2_000,
    )
    assert_statement_is_sound(other_statement)


def test_a_days_closing_is_the_next_days_opening_and_a_quiet_day_carries_it():
    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)

    for day in (D0, D1, D2, D3):
        merchant_statements_write(date=day)

    chain = list(MerchantStatement.objects.filter(merchant=merchant).order_by("date"))
    assert [s.date for s in chain] == [D0, D1, D2, D3]
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.opening_fen == before.closing_fen
    for s in chain:
        assert_statement_is_sound(s)
    assert [s.closing_fen for s in chain] == [7_000, 11_330, 4_330, 4_330]
    quiet = chain[-1]
    assert quiet.lines.count() == 0
    assert all(getattr(quiet, f) == 0 for f in IDENTITY_IN + IDENTITY_OUT)
    # The other merchant's account appeared on D1: no statement for it before.
    assert list(
        MerchantStatement.objects.filter(merchant=other).values_list("date", flat=True).order_by("date")
    ) == [
        D1,
        D2,
        D3,
    ]


def _snapshot(day: date) -> list:
    return [
        (
            s.merchant_id,
            *[getattr(s, f.attname) for f in MerchantStatement._meta.fields if f.attname.endswith("_fen")],
            sorted(s.lines.values_list("order_id", "kind", "amount_fen", "at", "entry_id")),
        )
        for s in MerchantStatement.objects.filter(date=day).order_by("merchant_id")
    ]


def test_writing_a_day_again_writes_the_same_statement():
    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)
    merchant_statements_write(date=D1)
    first = _snapshot(D1)
    ids = set(MerchantStatement.objects.values_list("pk", flat=True))

    merchant_statements_write(date=D1)

    assert _snapshot(D1) == first
    assert set(MerchantStatement.objects.values_list("pk", flat=True)) == ids
    assert MerchantStatementLine.objects.filter(statement__date=D1).count() == sum(
        len(row[-1]) for row in first
    )


def test_a_missed_day_with_movements_is_refused_and_nothing_written():
    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)
    merchant_statements_write(date=D0)

    with pytest.raises(StatementsDoNotBalance) as refused:
        merchant_statements_write(date=D2)  # D1 skipped: D2's opening is not D0's closing

    assert f"merchant {merchant.pk} opening" in refused.value.message
    assert not MerchantStatement.objects.filter(date=D2).exists()


def test_an_unknown_posting_on_frozen_funds_is_refused():
    merchant = MerchantFactory()
    ff.post(
        kind="mystery_move",
        order_id=9,
        at=at(D1, 9),
        lines=[(ff.frozen(merchant.pk), -100), (ff.GATEWAY, 100)],
    )

    with pytest.raises(StatementsDoNotBalance, match="mystery_move"):
        merchant_statements_write(date=D1)

    assert not MerchantStatement.objects.exists()


def test_deposit_deductions_of_the_day_are_information_lines():
    merchant = MerchantFactory()
    ff.order_paid_shared(merchant_id=merchant.pk, order_id=1, paid_fen=1_000, at=at(D1, 9))
    deposit = AccountRef.merchant(Account.Kind.MERCHANT_DEPOSIT, merchant.pk)
    for n, (amount, when) in enumerate([(500, at(D1, 10)), (300, at(D1, 23, 59)), (700, at(D2, 1))]):
        key = f"deposit:deduct:{merchant.pk}:{n}"
        ledger_post(key=key, kind="deposit_deducted", lines=[(deposit, -amount), (ff.REVENUE, amount)])
        movement = DepositMovement.objects.create(
            merchant=merchant,
            kind=DepositMovement.Kind.DEDUCTED,
            amount_fen=-amount,
            balance_after_fen=0,
            reason_code=DepositMovement.Reason.LATE_SHIPMENT,
            order_ref=1,
            ledger_key=key,
        )
        DepositMovement.objects.filter(pk=movement.pk).update(created_at=when)

    merchant_statements_write(date=D1)

    s = MerchantStatement.objects.get(merchant=merchant, date=D1)
    assert s.deductions_fen == 800
    assert s.closing_fen == 1_000  # not in the identity
    assert sorted(
        s.lines.filter(kind="deposit_deduction").values_list("amount_fen", "entry__account__kind")
    ) == [
        (300, "merchant_deposit"),
        (500, "merchant_deposit"),
    ]
    assert_statement_is_sound(s)


def test_the_sweeper_writes_yesterday_once_the_day_is_over_and_catches_up():
    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)
    assert "rebates.merchant_statements_write_due" in {e.name for e in sweepers.registered()}

    # Five minutes after D1 ended: within the grace, D1 is not written yet; D0 is.
    assert merchant_statements_write_due(at(D2, 0, 5)) == 1
    assert list(MerchantStatement.objects.values_list("date", flat=True).distinct()) == [D0]
    # Down for two days: D1, D2 and D3 are caught up in order, and a re-run does nothing.
    assert merchant_statements_write_due(at(D3 + timedelta(days=1), 0, 30)) == 3
    assert merchant_statements_write_due(at(D3 + timedelta(days=1), 0, 31)) == 0
    chain = list(MerchantStatement.objects.filter(merchant=merchant).order_by("date"))
    assert [s.date for s in chain] == [D0, D1, D2, D3]
    assert [s.opening_fen for s in chain[1:]] == [s.closing_fen for s in chain[:-1]]


def test_the_sweeper_has_nothing_to_do_without_frozen_funds():
    MerchantFactory()

    assert merchant_statements_write_due(at(D2, 12)) == 0
    assert not MerchantStatement.objects.exists()


@pytest.fixture
def real_orders():
    """``orders(n)`` → n real paid orders of one merchant (the held and refund rules read
    after-sales cases and refunds, which name real orders)."""
    from groupstore.tests.factories import make_store
    from products.tests.factories import ProductFactory, SkuFactory
    from rebates.tests.helpers import make_paid_order

    store, _, (buyer,) = make_store(members=1)
    merchant = MerchantFactory()
    sku = SkuFactory(
        product=ProductFactory(merchant=merchant), price_fen=1_990, on_hand=50, commission_bps=1_000
    )

    def orders(n: int):
        return [make_paid_order(buyer=buyer, store=store, sku=sku) for _ in range(n)]

    return merchant, orders


def _case(order, *, opened: datetime, status: str = "requested", changed: datetime | None = None):
    from orders.models import AfterSale

    case = AfterSale.objects.create(
        order=order,
        buyer=order.buyer,
        merchant_id=order.merchant_id,
        kind="refund",
        status=status,
        amount_fen=500,
        reason="x",
    )
    AfterSale.objects.filter(pk=case.pk).update(created_at=opened, updated_at=changed or opened)
    return case


def test_held_is_what_orders_with_a_case_open_at_the_days_end_still_have_frozen(real_orders):
    merchant, orders = real_orders
    a, b, c, d = orders(4)
    for order in (a, b, c, d):
        ff.order_paid_shared(merchant_id=merchant.pk, order_id=order.pk, paid_fen=1_990, at=at(D1, 9))
    _case(a, opened=at(D1, 10))  # still open
    _case(b, opened=at(D1, 10), status="closed", changed=at(D1, 12))  # ended within the day
    _case(c, opened=at(D1, 11), status="refunded", changed=at(D2, 9))  # ended the next day
    ff.refund_from_frozen(merchant_id=merchant.pk, order_id=c.pk, amount_fen=500, at=at(D1, 13))
    _case(d, opened=at(D2, 10))  # opened the next day

    merchant_statements_write(date=D1)
    merchant_statements_write(date=D2)

    d1 = MerchantStatement.objects.get(merchant=merchant, date=D1)
    assert d1.held_fen == 1_990 + 1_490
    assert sorted(d1.lines.filter(kind="held").values_list("order_id", "amount_fen")) == [
        (a.pk, 1_990),
        (c.pk, 1_490),
    ]
    assert d1.closing_fen == 4 * 1_990 - 500
    d2 = MerchantStatement.objects.get(merchant=merchant, date=D2)
    assert sorted(d2.lines.filter(kind="held").values_list("order_id", "amount_fen")) == [
        (a.pk, 1_990),
        (d.pk, 1_990),
    ]
    for s in (d1, d2):
        assert_statement_is_sound(s)
    # A re-run after the cases moved on gives the same held lines.
    before = _snapshot(D1)
    merchant_statements_write(date=D1)
    assert _snapshot(D1) == before


def _refund_succeeded(order, *, amount_fen: int, requested: datetime, succeeded: datetime):
    from shop.payments.models import Refund

    refund = Refund.objects.create(
        payment_id=order.payment_id,
        purpose="order_refund",
        ref_id=order.pk,
        amount_fen=amount_fen,
        total_fen=order.payment.amount_fen,
        key=f"test-refund:{order.pk}:{amount_fen}",
        out_refund_no=f"TR{order.pk}x{amount_fen}",
        status=Refund.Status.SUCCEEDED,
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=requested)
    tx, _ = ledger_post(
        key=f"refund:{refund.pk}:succeeded",
        kind="refund_succeeded",
        lines=[(ff.REFUND_CLEARING, -amount_fen), (ff.GATEWAY, amount_fen)],
        ref_type="refund",
        ref_id=refund.pk,
    )
    ff.backdate(tx, succeeded)
    return refund


def test_refunds_after_release_are_order_refunds_requested_after_the_unfreeze(real_orders):
    merchant, orders = real_orders
    e, f, g = orders(3)
    for order in (e, f, g):
        ff.order_paid_shared(merchant_id=merchant.pk, order_id=order.pk, paid_fen=1_990, at=at(D0, 9))
        ff.share_finished(
            merchant_id=merchant.pk, order_id=order.pk, commission_fen=199, fee_fen=60, at=at(D0, 10)
        )
    ff.unfreeze_confirmed(merchant_id=merchant.pk, order_id=e.pk, amount_fen=1_731, at=at(D0, 16))
    ff.unfreeze_confirmed(merchant_id=merchant.pk, order_id=g.pk, amount_fen=1_731, at=at(D0, 16))
    ff.unfreeze_confirmed(merchant_id=merchant.pk, order_id=f.pk, amount_fen=1_731, at=at(D1, 9))
    _refund_succeeded(e, amount_fen=800, requested=at(D1, 10), succeeded=at(D1, 10, 5))
    _refund_succeeded(f, amount_fen=300, requested=at(D0, 20), succeeded=at(D1, 10))  # asked before release
    _refund_succeeded(g, amount_fen=200, requested=at(D1, 22), succeeded=at(D2, 1))  # succeeds the next day

    for day in (D0, D1, D2):
        merchant_statements_write(date=day)

    d1 = MerchantStatement.objects.get(merchant=merchant, date=D1)
    assert d1.refunds_after_release_fen == 800
    assert list(
        d1.lines.filter(kind="refund_after_release").values_list("order_id", "entry__account__kind")
    ) == [(e.pk, "refund_clearing")]
    assert MerchantStatement.objects.get(merchant=merchant, date=D2).refunds_after_release_fen == 200
    assert d1.released_fen == 1_731
    for s in MerchantStatement.objects.filter(merchant=merchant):
        assert_statement_is_sound(s)


def test_the_command_writes_a_range_with_progress_and_refuses_a_bad_date():
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    merchant, other = MerchantFactory(), MerchantFactory()
    a_busy_day(merchant.pk, other.pk)
    out = StringIO()

    call_command("merchant_statements_write", "--date", str(D0), "--until", str(D2), stdout=out)

    assert MerchantStatement.objects.filter(merchant=merchant).count() == 3
    assert "frozen-fund lines: 13" in out.getvalue()
    assert out.getvalue().count("statements written") == 3
    with pytest.raises(CommandError, match="not a date"):
        call_command("merchant_statements_write", "--date", "2026-13-01")
