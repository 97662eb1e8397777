"""Profit sharing reconciled with WeChat's bills: shares on the profit-sharing bill, subsidies
on each secondary merchant's fund-flow bill (docs/merchant-money.md "Reconciliation with the
bills"), and WeChat's handling fee on a shared payment's part booked from the trade bill.

The bills are the e-commerce sandbox's own, built from what it did (WeChat's format, parsed by
the real parser); only the trade bill with a fee is written by the test (the sandbox charges
none)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rebates.services.settlement import orders_settle
from rebates.services.statements import merchant_statements_write
from shop.ledger.checks import registered_checks
from shop.ledger.models import Transaction
from shop.payments import reconciliation
from shop.payments.gateways.bills import fen_to_yuan, format_bill_line, parse_bill
from shop.payments.gateways.ecommerce_sandbox import TRADE_HEADER, TRADE_SUMMARY
from shop.payments.models import BillImport, FundsStep, GatewayFee, PaymentPart, ReconciliationCase
from shop.payments.reconcile_steps import fundflow_accounts
from shop.payments.reconciliation import SHANGHAI, bill_reconcile, case_apply_missed

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
Kind = ReconciliationCase.Kind


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"
    settings.ECOMMERCE_GATEWAY = "sandbox"


def today():
    return timezone.localtime(timezone.now(), SHANGHAI).date()


def shared_and_settled(*, shares: bool = True):
    from orders.tests.helpers import sandbox_pay

    result, skus, _, _ = two_merchant_checkout(coupon_fen=500)
    sandbox_pay(result.payment)
    assert run_open_steps("subsidy") == ["confirmed", "confirmed"]
    orders = [complete(order) for order in sorted(result.orders, key=lambda o: o.pk)]
    orders_settle(order_ids=[o.pk for o in orders])
    if shares:
        run_open_steps("share")  # accepted (processing), then finished on the poll
        assert run_open_steps("share") == ["confirmed", "confirmed"]
    return orders, skus


def reconcile(kind: str, sub_mchid: str = "") -> BillImport:
    return bill_reconcile(gateway="sandbox", kind=kind, bill_date=today(), sub_mchid=sub_mchid)


def cases() -> set[tuple[str, str, str]]:
    return set(ReconciliationCase.objects.values_list("bill_kind", "kind", "key"))


def checks_fail() -> dict[str, list[str]]:
    return {name: problems for name, run in registered_checks() if (problems := run())}


def test_shares_and_subsidies_that_agree_raise_nothing_and_each_difference_is_a_case():
    orders, skus = shared_and_settled()
    subs = sorted(sku.merchant.sub_mchid for sku in skus)
    assert fundflow_accounts() == subs  # the merchants with a subsidy lately

    assert reconcile("profitsharing").case_count == 0
    assert [reconcile("fundflow", sub).case_count for sub in subs] == [0, 0]
    assert not cases()

    share_a, share_b = FundsStep.objects.filter(kind="share").order_by("order_id")
    subsidy_a, subsidy_b = FundsStep.objects.filter(kind="subsidy").order_by("order_id")
    FundsStep.objects.filter(pk=share_a.pk).update(  # amount differs
        amount_fen=share_a.amount_fen + 1, commission_fen=share_a.commission_fen + 1
    )
    FundsStep.objects.filter(pk=share_b.pk).update(out_no="S999999")  # the bill's line is not ours
    FundsStep.objects.filter(pk=subsidy_a.pk).update(status="failed")  # done there, failed here
    FundsStep.objects.filter(pk=subsidy_b.pk).update(amount_fen=subsidy_b.amount_fen - 1)

    reconcile("profitsharing")
    for sub in subs:
        reconcile("fundflow", sub)
    part_a, part_b = (PaymentPart.objects.get(order_id=o.pk) for o in orders)
    assert cases() == {
        ("profitsharing", Kind.AMOUNT_DIFFERS, f"{part_a.sub_mchid}:{share_a.out_no}"),
        ("profitsharing", Kind.MISSING_OURS, f"{part_b.sub_mchid}:{share_b.out_no}"),
        ("profitsharing", Kind.MISSING_GATEWAY, f"{part_b.sub_mchid}:S999999"),
        ("fundflow", Kind.STATUS_DIFFERS, f"subsidy:{part_a.transaction_id}"),
        ("fundflow", Kind.AMOUNT_DIFFERS, f"subsidy:{part_b.transaction_id}"),
    }
    # Imported again: nothing new.
    assert reconcile("profitsharing").case_count == 0
    assert [reconcile("fundflow", sub).case_count for sub in subs] == [0, 0]
    assert len(cases()) == 5


def test_a_share_finished_at_the_gateway_but_missed_with_us_is_applied_exactly_once():
    orders, skus = shared_and_settled(shares=False)
    gateway = sandbox()
    gateway.control.processing_polls(1)
    assert run_open_steps("share") == ["processing", "processing"]
    share = FundsStep.objects.filter(kind="share").order_by("order_id").first()
    part = share.part
    # The gateway finishes it; its word never reaches us (a lost poll, a lost notification).
    assert gateway.profit_share_query(
        sub_mchid=part.sub_mchid, transaction_id=part.transaction_id, out_order_no=share.out_no
    ).finished
    gateway.control.processing_polls(5)  # the other share stays processing there

    reconcile("profitsharing")
    case = ReconciliationCase.objects.get()
    assert (case.kind, case.key) == (Kind.MISSING_OURS, f"{part.sub_mchid}:{share.out_no}")

    resolved = case_apply_missed(case_id=case.pk, actor_id=None)
    assert resolved.resolution == ReconciliationCase.Resolution.APPLIED
    share.refresh_from_db()
    assert share.status == "confirmed"
    assert kind_total("share_finished", part.merchant_id) == share.amount_fen
    # Again, and the step's own poll after it: nothing more is posted.
    case_apply_missed(case_id=case.pk, actor_id=None)
    run_open_steps("share")
    assert Transaction.objects.filter(kind="share_finished", ref_id=share.order_id).count() == 1
    assert kind_total("share_finished", part.merchant_id) == share.amount_fen
    assert reconcile("profitsharing").case_count == 0


def fee_bill(parts: list[PaymentPart], fees: list[str]):
    """A trade bill of the sandbox gateway's parts with a handling fee each."""
    lines = [TRADE_HEADER]
    for part, fee in zip(parts, fees, strict=True):
        row = ["2026-12-01 12:00:00", "wx1", "1900000000", part.sub_mchid, "", part.transaction_id]
        row += [
            part.out_trade_no,
            "openid",
            "JSAPI",
            "SUCCESS",
            "OTHERS",
            "CNY",
            fen_to_yuan(part.amount_fen),
        ]
        row += [
            "0.00",
            "",
            "",
            "0.00",
            "0.00",
            "",
            "",
            "抽纸",
            "",
            fee,
            "0.60%",
            fen_to_yuan(part.amount_fen),
        ]
        row += ["0.00", ""]
        lines.append(format_bill_line(row))
    lines += [TRADE_SUMMARY, "`0,`0.00,`0.00,`0.00,`0.00,`0.00,`0.00"]
    return lines


class FeeBills:
    def __init__(self, lines):
        self.lines = lines

    def bill_download(self, kind, date, *, sub_mchid=None):
        return parse_bill(kind, self.lines if kind == "trade" else [TRADE_HEADER], sub_mchid=sub_mchid)


def test_a_parts_handling_fee_is_booked_once_from_its_frozen_funds_and_statements_and_unfreeze_follow(
    monkeypatch,
):
    orders, skus = shared_and_settled()
    parts = [PaymentPart.objects.get(order_id=o.pk) for o in orders]
    m1 = parts[0].merchant_id
    before = (frozen(m1), receivable(m1))
    monkeypatch.setattr(
        reconciliation, "bill_source_get", lambda name: FeeBills(fee_bill(parts, ["0.11940", "0.17"]))
    )

    reconcile("trade")
    assert sorted(GatewayFee.objects.values_list("fee_fen", flat=True)) == [12, 17]
    assert (frozen(m1), receivable(m1)) == (before[0] + 12, before[1] - 12)
    assert kind_total("gateway_fee", m1) == 12
    assert not checks_fail()

    # Again, and on the next day's bill too: nothing recorded or booked twice.
    reconcile("trade")
    bill_reconcile(gateway="sandbox", kind="trade", bill_date=today() - timezone.timedelta(days=1))
    assert GatewayFee.objects.count() == 2
    assert Transaction.objects.filter(kind="gateway_fee").count() == 2

    # The statement reads the booked fee and its identity holds (a check constraint; the
    # service also checks the closing against the ledger).
    merchant_statements_write(date=today())
    from rebates.models import MerchantStatement

    statement = MerchantStatement.objects.get(merchant_id=m1, date=today())
    assert statement.gateway_fee_fen == 12
    assert statement.closing_fen == -frozen(m1)

    # The unfreeze releases what is frozen net of the fee, leaving both mirrors at 0.
    run_open_steps("unfreeze")  # accepted, then confirmed on the poll
    assert run_open_steps("unfreeze") == ["confirmed", "confirmed"]
    unfreeze = FundsStep.objects.get(kind="unfreeze", order_id=orders[0].pk)
    assert unfreeze.amount_fen == before[1] - 12
    assert (frozen(m1), receivable(m1)) == (0, 0)
    assert not checks_fail()


def test_the_fee_check_finds_a_fee_row_changed_behind_the_ledgers_back(monkeypatch):
    orders, _ = shared_and_settled()
    parts = [PaymentPart.objects.get(order_id=o.pk) for o in orders]
    monkeypatch.setattr(
        reconciliation, "bill_source_get", lambda name: FeeBills(fee_bill(parts, ["0.12", "0.17"]))
    )
    reconcile("trade")
    assert not checks_fail()

    GatewayFee.objects.filter(order_id=orders[0].pk).update(fee_fen=13)
    failing = checks_fail()
    assert "payments: gateway fees against the trade bills' lines" in failing
    assert any(
        f"order {orders[0].pk}" in line
        for line in failing["payments: gateway fees against the trade bills' lines"]
    )
