"""WeChat's handling fee of platform payments booked from the trade bill: once per line (a
payment's, a refund's give-back), never again on a re-import or the next day's bill, and the
checks that compare the booked fees with their rows (docs/merchant-money.md "WeChat's handling
fee"). Shared payments' parts: tests/test_sharing_reconciliation.py."""

from __future__ import annotations

import pytest

from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.checks import gateway_clearing_check
from shop.payments.gateway_fees import gateway_fees_check
from shop.payments.gateways.bills import fen_to_yuan, format_bill_line
from shop.payments.models import GatewayFee

from .test_reconciliation import DAY, GATEWAY, NEXT_DAY, bills, paid, reconcile  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def line(payment, fee: str, *, refund_no: str = "", refund_fen: int = 0) -> str:
    state, refund_id = ("REFUND", f"50{refund_no}") if refund_no else ("SUCCESS", "")
    row = [
        "2026-12-01 12:00:00",
        "wx1",
        "1900000001",
        "",
        "",
        f"42{payment.out_trade_no}",
        payment.out_trade_no,
    ]
    row += ["openid", "JSAPI", state, "OTHERS", "CNY", fen_to_yuan(payment.amount_fen), "0.00", refund_id]
    row += [
        refund_no,
        fen_to_yuan(refund_fen),
        "0.00",
        "ORIGINAL" if refund_no else "",
        "SUCCESS" if refund_no else "",
    ]
    row += ["抽纸", "", fee, "0.60%", fen_to_yuan(payment.amount_fen), fen_to_yuan(refund_fen), ""]
    return format_bill_line(row)


def platform_fees() -> int:
    return account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_FEES))


def test_platform_fees_are_booked_once_per_line_whatever_is_imported_again(fake, bills):  # noqa: F811
    one, two = paid(), paid(amount_fen=2_000)
    bills.lines[("trade", DAY)] = [
        line(one, "0.11940"),  # 11.94 fen: 12
        line(two, "0.12"),
        line(one, "-0.05970", refund_no="RF1", refund_fen=995),  # half the fee given back: −6
        line(two, "0.00000", refund_no="RF2", refund_fen=1),  # no fee: nothing recorded
    ]
    reconcile(kinds=("trade",))
    assert set(GatewayFee.objects.values_list("fee_key", "fee_fen")) == {
        (f"42{one.out_trade_no}", 12),
        (f"42{one.out_trade_no}/50RF1", -6),
        (f"42{two.out_trade_no}", 12),
    }
    assert platform_fees() == -18
    assert gateway_fees_check() == []
    assert gateway_clearing_check() == []

    reconcile(kinds=("trade",))  # the same bill again
    bills.lines[("trade", NEXT_DAY)] = [line(two, "0.12")]  # a line again on the next day's bill
    reconcile(NEXT_DAY, kinds=("trade",))
    assert GatewayFee.objects.count() == 3
    assert Transaction.objects.filter(kind="gateway_fee").count() == 1
    assert platform_fees() == -18
    assert gateway_fees_check() == []
    assert gateway_clearing_check() == []


def test_a_fee_row_or_posting_changed_behind_the_checks_back_is_found(fake, bills):  # noqa: F811
    payment = paid()
    bills.lines[("trade", DAY)] = [line(payment, "0.12")]
    reconcile(kinds=("trade",))
    assert gateway_fees_check() == []

    GatewayFee.objects.update(fee_fen=13)
    problems = gateway_fees_check()
    assert any("gateway fees" in p for p in problems)
    assert any("bill import" in p for p in problems)
    assert any("gateway clearing" in p for p in gateway_clearing_check())
