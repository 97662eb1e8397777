"""Reconciliation with the gateway's bills: differences become cases once, re-imports change
nothing, a missed callback is applied once, the midnight rule, and bills not ready yet.

Only the bill download is faked (outside our walls): bills are WeChat-format text parsed by
the real parser; everything on our side is real (PostgreSQL, the matching SQL, the services).
"""

from __future__ import annotations

import datetime
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from shop.audit.models import AuditEntry
from shop.ledger.models import Entry
from shop.payments import reconciliation
from shop.payments.errors import CaseNotResolvable
from shop.payments.gateways.base import GatewayError, PaymentResult
from shop.payments.gateways.bills import fen_to_yuan, format_bill_line, parse_bill
from shop.payments.gateways.ecommerce import BILL_NOT_READY
from shop.payments.gateways.ecommerce_sandbox import TRADE_HEADER, TRADE_SUMMARY
from shop.payments.models import BillImport, Payment, ReconciliationCase, Refund, StagedBillLine
from shop.payments.reconciliation import (
    SHANGHAI,
    bill_reconcile,
    bills_reconcile_due,
    case_apply_missed,
    case_explain,
)
from shop.payments.services import Applied, payment_apply_result, payment_close
from shop.testing.concurrency import run_concurrently

from .helpers import make_paid_payment, make_payer, make_payment

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 12, 1)
NEXT_DAY = DAY + datetime.timedelta(days=1)
GATEWAY = "fakepay"  # the payments' gateway (the ``fake`` fixture) is the bill's gateway
Kind = ReconciliationCase.Kind


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=SHANGHAI)


def trade_line(
    out_trade_no: str, fen: int, *, state: str = "SUCCESS", when: str = "2026-12-01 12:00:00"
) -> str:
    return format_bill_line(
        [when, "wx1", "1900000001", "1600000001", "", f"42{out_trade_no}", out_trade_no, "openid", "JSAPI"]
        + [state, "OTHERS", "CNY", fen_to_yuan(fen), "0.00", "", "", "0.00", "0.00", "", "", "抽纸", ""]
        + ["0.00000", "0.60%", fen_to_yuan(fen), "0.00", ""]
    )


def refund_line(out_trade_no: str, out_refund_no: str, fen: int, *, status: str = "SUCCESS") -> str:
    return format_bill_line(
        ["2026-12-01 12:00:00", "wx1", "1900000001", "1600000001", "", f"42{out_trade_no}", out_trade_no]
        + ["openid", "JSAPI", "REFUND", "OTHERS", "CNY", "0.00", "0.00", f"50{out_refund_no}", out_refund_no]
        + [fen_to_yuan(fen), "0.00", "ORIGINAL", status, "抽纸", "", "0.00000", "0.60%", "0.00"]
        + [fen_to_yuan(fen), ""]
    )


class FakeBills:
    """The gateway's bill download: WeChat-format text per (kind, day), parsed by the real
    parser; a day not given is an empty bill; ``not_ready`` days answer STATEMENT_CREATING."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, datetime.date], list[str]] = {}
        self.not_ready: set[datetime.date] = set()
        self.calls: Counter = Counter()

    def bill_download(self, kind: str, date: datetime.date, *, sub_mchid: str | None = None):
        self.calls[(kind, date)] += 1
        if date in self.not_ready:
            raise GatewayError("bill not ready", status=400, wechat_code=BILL_NOT_READY)
        text = [
            TRADE_HEADER,
            *self.lines.get((kind, date), []),
            TRADE_SUMMARY,
            "`0,`0.00,`0.00,`0.00,`0.00,`0.00,`0.00",
        ]
        return parse_bill(kind, text, sub_mchid=sub_mchid)


@pytest.fixture
def bills(monkeypatch):
    source = FakeBills()
    monkeypatch.setattr(reconciliation, "bill_source_get", lambda name: source)
    return source


def paid(*, amount_fen: int = 1_990, when: datetime.datetime | None = None) -> Payment:
    payment = make_paid_payment(
        payer=make_payer(f"p{Payment.objects.count()}"), amount_fen=amount_fen, gateway=GATEWAY
    )
    Payment.objects.filter(pk=payment.pk).update(paid_at=when or at(DAY, 12))
    return payment


def unpaid(*, amount_fen: int = 1_990) -> Payment:
    return make_payment(
        payer=make_payer(f"u{Payment.objects.count()}"), amount_fen=amount_fen, gateway=GATEWAY
    )


def refund_of(payment: Payment, fen: int, *, status: str = Refund.Status.SUCCEEDED, when=None) -> Refund:
    # The matching reads only the refund row; how it got there (refunds.py) is tested elsewhere.
    return Refund.objects.create(
        payment=payment,
        purpose="test_refund",
        amount_fen=fen,
        total_fen=payment.amount_fen,
        key=f"test-refund-{payment.pk}-{fen}",
        out_refund_no=f"R{payment.out_trade_no}",
        status=status,
        finished_at=(when or at(DAY, 13)) if status == Refund.Status.SUCCEEDED else None,
    )


def cases() -> set[tuple[str, str, str]]:
    return set(ReconciliationCase.objects.values_list("bill_kind", "kind", "key"))


def reconcile(day: datetime.date = DAY, kinds=("trade", "refund")) -> list[BillImport]:
    return [bill_reconcile(gateway=GATEWAY, kind=kind, bill_date=day) for kind in kinds]


def test_a_bill_with_each_kind_of_difference(fake, bills):
    ok, amount, closed, absent = paid(), paid(amount_fen=2_000), unpaid(), paid()
    missed = unpaid()
    payment_close(payment_id=closed.pk)
    refunded, refund_absent, refund_in_flight = paid(), paid(), paid()
    r_ok = refund_of(refunded, 500)
    r_absent = refund_of(refund_absent, 600)
    r_in_flight = refund_of(refund_in_flight, 700, status=Refund.Status.PROCESSING)
    bills.lines[("trade", DAY)] = [
        trade_line(ok.out_trade_no, 1_990),
        trade_line(amount.out_trade_no, 1_900),  # the gateway took 19.00, we asked 20.00
        trade_line(closed.out_trade_no, 1_990),  # paid after we closed it, and nobody told us
        trade_line(missed.out_trade_no, 1_990),  # a success callback we never got
        trade_line("STRANGER000001", 990),  # nothing of ours at all
        trade_line(refunded.out_trade_no, 1_990),
        trade_line(refund_absent.out_trade_no, 1_990),
        trade_line(refund_in_flight.out_trade_no, 1_990),
        refund_line(ok.out_trade_no, "IGNORED", 1),  # a trade bill's refund line: the refund bill's
    ]
    bills.lines[("refund", DAY)] = [
        refund_line(refunded.out_trade_no, r_ok.out_refund_no, 500),
        refund_line(refund_in_flight.out_trade_no, r_in_flight.out_refund_no, 700),
    ]

    trade, refund = reconcile()

    assert cases() == {
        ("trade", Kind.AMOUNT_DIFFERS, amount.out_trade_no),
        ("trade", Kind.STATUS_DIFFERS, closed.out_trade_no),
        ("trade", Kind.MISSING_OURS, missed.out_trade_no),
        ("trade", Kind.MISSING_OURS, "STRANGER000001"),
        ("trade", Kind.MISSING_GATEWAY, absent.out_trade_no),
        ("refund", Kind.MISSING_GATEWAY, r_absent.out_refund_no),
        ("refund", Kind.MISSING_OURS, r_in_flight.out_refund_no),
    }
    assert (trade.status, trade.line_count, trade.case_count) == (BillImport.Status.DONE, 9, 5)
    assert (refund.status, refund.line_count, refund.case_count) == (BillImport.Status.DONE, 2, 2)
    differs = ReconciliationCase.objects.get(kind=Kind.AMOUNT_DIFFERS)
    assert (differs.our_amount_fen, differs.bill_amount_fen, differs.matcher) == (2_000, 1_900, "payments")
    assert differs.bill_line["fields"]["商户订单号"] == amount.out_trade_no
    assert differs.bill_line["fields"]["订单金额"] == "19.00"
    assert differs.bill_line["line_no"] == 3
    stranger = ReconciliationCase.objects.get(key="STRANGER000001")
    assert (stranger.matcher, stranger.our_amount_fen, stranger.bill_amount_fen) == ("", None, 990)
    gone = ReconciliationCase.objects.get(kind=Kind.MISSING_GATEWAY, bill_kind="trade")
    assert (gone.our_amount_fen, gone.bill_amount_fen, gone.bill_line, gone.bill_date) == (
        1_990,
        None,
        None,
        DAY,
    )


def test_a_bill_imported_again_changes_nothing(fake, bills):
    missed, absent = unpaid(), paid()
    bills.lines[("trade", DAY)] = [trade_line(missed.out_trade_no, 1_990), trade_line("STRANGER000002", 100)]
    reconcile(kinds=["trade"])
    before = list(ReconciliationCase.objects.order_by("pk").values())
    assert {c["key"] for c in before} == {missed.out_trade_no, absent.out_trade_no, "STRANGER000002"}
    stranger = ReconciliationCase.objects.get(key="STRANGER000002")
    case_explain(case_id=stranger.pk, actor_id=None, reason="a test payment made at the merchant platform")

    (again,) = reconcile(kinds=["trade"])
    (third,) = reconcile(kinds=["trade"])

    assert (again.case_count, third.case_count, third.line_count, third.attempts) == (0, 0, 2, 3)
    assert StagedBillLine.objects.filter(bill_import=third).count() == 2  # replaced, not doubled
    after = list(ReconciliationCase.objects.order_by("pk").values())
    assert [{**c, "updated_at": None} for c in after if c["key"] != "STRANGER000002"] == [
        {**c, "updated_at": None} for c in before if c["key"] != "STRANGER000002"
    ]
    stranger.refresh_from_db()
    assert stranger.status == ReconciliationCase.Status.RESOLVED  # never reopened
    assert stranger.resolution == ReconciliationCase.Resolution.EXPLAINED


def test_a_missed_success_callback_is_found_and_applied_exactly_once(fake, bills):
    payment = unpaid()
    result = PaymentResult(payment.out_trade_no, "4200000000001", payment.amount_fen, True, {})
    fake.paid[payment.out_trade_no] = result  # the gateway has it paid; its callback never came
    bills.lines[("trade", DAY)] = [trade_line(payment.out_trade_no, payment.amount_fen)]
    reconcile(kinds=["trade"])
    case = ReconciliationCase.objects.get()
    assert (case.kind, case.matcher, case.our_state) == (Kind.MISSING_OURS, "payments", "pending")

    resolved = case_apply_missed(case_id=case.pk, actor_id=None)
    again = case_apply_missed(case_id=case.pk, actor_id=None)  # the double click
    late = payment_apply_result(gateway=GATEWAY, result=result)  # the callback, late after all

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.gateway_txn_id == "4200000000001"
    assert resolved.status == ReconciliationCase.Status.RESOLVED
    assert resolved.resolution == ReconciliationCase.Resolution.APPLIED
    assert again.resolved_at == resolved.resolved_at
    assert late == Applied.DUPLICATE
    assert len(fake.calls_of("query")) == 1
    receipts = Entry.objects.filter(transaction__ref_type="payment", transaction__ref_id=payment.pk)
    assert receipts.filter(amount_fen__lt=0).count() == 1  # the money came in once
    call_command("ledger_check", stdout=StringIO())  # raises on any imbalance
    (reimported,) = reconcile(kinds=["trade"])
    assert reimported.case_count == 0
    assert ReconciliationCase.objects.get().status == ReconciliationCase.Status.RESOLVED


def test_a_case_the_gateway_does_not_confirm_stays_open(fake, bills):
    payment = unpaid()
    bills.lines[("trade", DAY)] = [trade_line(payment.out_trade_no, payment.amount_fen)]
    reconcile(kinds=["trade"])
    case = ReconciliationCase.objects.get()

    with pytest.raises(CaseNotResolvable):
        case_apply_missed(case_id=case.pk, actor_id=None)  # the fake's query: nothing paid

    case.refresh_from_db()
    payment.refresh_from_db()
    assert case.status == ReconciliationCase.Status.OPEN
    assert payment.status == Payment.Status.CREATED


def test_a_line_near_midnight_counts_only_if_the_next_days_bill_lacks_it_too(fake, bills):
    late_on_next = paid(when=at(DAY, 23, 55))  # the gateway booked it after midnight
    late_nowhere = paid(when=at(DAY, 23, 57))
    early_on_previous = paid(when=at(NEXT_DAY, 0, 3))  # the gateway booked it before midnight
    bills.lines[("trade", DAY)] = [
        trade_line(early_on_previous.out_trade_no, 1_990, when="2026-12-01 23:59:59")
    ]
    bills.lines[("trade", NEXT_DAY)] = [
        trade_line(late_on_next.out_trade_no, 1_990, when="2026-12-02 00:00:01")
    ]

    reconcile(DAY, kinds=["trade"])
    assert cases() == set()  # undecided until the next day's bill is in

    reconcile(NEXT_DAY, kinds=["trade"])
    assert cases() == {("trade", Kind.MISSING_GATEWAY, late_nowhere.out_trade_no)}
    assert ReconciliationCase.objects.get().bill_date == DAY


def test_a_bill_not_ready_is_tried_again_later_not_hammered(
    fake, bills, settings, django_capture_on_commit_callbacks
):
    settings.ECOMMERCE_GATEWAY = GATEWAY
    absent = paid()
    bills.not_ready.add(DAY)

    def sweep(now):
        with django_capture_on_commit_callbacks(execute=True):
            return bills_reconcile_due(now)

    sweep(at(NEXT_DAY, 9, 59))  # not before 10:00 the next day
    assert bills.calls[("trade", DAY)] == 0
    sweep(at(NEXT_DAY, 10, 1))
    bill = BillImport.objects.get(kind="trade", bill_date=DAY)
    assert (bill.status, bill.attempts) == (BillImport.Status.WAITING, 1)
    assert bill.next_attempt_at == at(NEXT_DAY, 10, 16)
    assert bill.last_error

    sweep(at(NEXT_DAY, 10, 10))  # too soon: no call
    assert bills.calls[("trade", DAY)] == 1
    sweep(at(NEXT_DAY, 10, 16))  # still not ready: waits twice as long
    bill.refresh_from_db()
    assert (bill.attempts, bill.next_attempt_at) == (2, at(NEXT_DAY, 10, 46))

    bills.not_ready.clear()
    sweep(at(NEXT_DAY, 10, 46))
    sweep(at(NEXT_DAY, 11, 0))  # done: never fetched again by the sweeper
    bill.refresh_from_db()
    assert (bill.status, bill.attempts, bills.calls[("trade", DAY)]) == (BillImport.Status.DONE, 3, 3)
    assert cases() == {("trade", Kind.MISSING_GATEWAY, absent.out_trade_no)}


def test_the_command_reconciles_a_day_and_reports(fake, bills):
    missed = unpaid()
    bills.lines[("trade", DAY)] = [trade_line(missed.out_trade_no, 1_990)]
    out = StringIO()

    call_command("reconcile_bills", "--date", "2026-12-01", "--gateway", GATEWAY, stdout=out)

    text = out.getvalue()
    assert "trade bill of 2026-12-01" in text
    assert "done: 1 lines" in text
    assert "Open reconciliation cases: 1" in text


def test_ops_explain_a_case_in_admin_with_a_reason(fake, bills, admin_client):
    bills.lines[("trade", DAY)] = [trade_line("STRANGER000003", 100)]
    reconcile(kinds=["trade"])
    case = ReconciliationCase.objects.get()
    url = "/admin/payments/reconciliationcase/"

    listing = admin_client.get(url)
    admin_client.post(url, {"action": "mark_explained", "_selected_action": [case.pk], "reason": ""})
    unchanged = ReconciliationCase.objects.get()
    admin_client.post(
        url, {"action": "mark_explained", "_selected_action": [case.pk], "reason": "merchant test"}
    )

    assert "1 open" in listing.content.decode()
    assert unchanged.status == ReconciliationCase.Status.OPEN
    case.refresh_from_db()
    assert (case.status, case.resolution, case.note) == ("resolved", "explained", "merchant test")
    assert case.resolved_by is not None
    # the refused attempt (no reason) left no entry; the resolution left one, with who and why
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.reason, entry.actor_name) == (
        "reconciliation.explain",
        str(case.pk),
        "merchant test",
        "admin",
    )
    assert entry.details == {"resolution": "explained", "our_amount_fen": None}


def test_ops_apply_a_missed_callback_in_admin_is_recorded_once(fake, bills, admin_client):
    payment = unpaid()
    result = PaymentResult(payment.out_trade_no, "4200000000009", payment.amount_fen, True, {})
    fake.paid[payment.out_trade_no] = result
    bills.lines[("trade", DAY)] = [trade_line(payment.out_trade_no, payment.amount_fen)]
    reconcile(kinds=["trade"])
    case = ReconciliationCase.objects.get()
    url = "/admin/payments/reconciliationcase/"

    for _ in range(2):  # the double click
        admin_client.post(url, {"action": "apply_missed", "_selected_action": [case.pk]})

    case.refresh_from_db()
    assert (case.status, case.resolution) == ("resolved", "applied")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == (
        "reconciliation.apply_missed",
        str(case.pk),
        "admin",
    )
    assert entry.details["resolution"] == "applied"


def test_a_bill_that_cannot_be_read_fails_for_ops_and_stages_nothing(fake, bills):
    paid()
    bills.lines[("trade", DAY)] = [trade_line("GOOD0000001", 100), trade_line("BAD0000001", 100) + ",`extra"]

    (bill,) = reconcile(kinds=["trade"])

    assert bill.status == BillImport.Status.FAILED
    assert "fields under a header" in bill.last_error
    assert StagedBillLine.objects.filter(bill_import=bill).count() == 0
    assert cases() == set()


def test_a_bill_line_with_a_backslash_or_tab_is_staged_as_it_is(fake, bills):
    line = trade_line("ODD\\NAME0001", 100).replace("抽纸", "抽\t纸\\")
    bills.lines[("trade", DAY)] = [line]

    reconcile(kinds=["trade"])

    case = ReconciliationCase.objects.get()
    assert case.key == "ODD\\NAME0001"
    assert case.bill_line["fields"]["商品名称"] == "抽\t纸\\"


@pytest.mark.django_db(transaction=True)
def test_ops_twice_and_the_late_callback_at_once_apply_the_payment_once(fake, bills):
    payment = unpaid()
    result = PaymentResult(payment.out_trade_no, "4200000000002", payment.amount_fen, True, {})
    fake.paid[payment.out_trade_no] = result
    bills.lines[("trade", DAY)] = [trade_line(payment.out_trade_no, payment.amount_fen)]
    reconcile(kinds=["trade"])
    case = ReconciliationCase.objects.get()

    def act(i: int):
        if i == 2:
            return payment_apply_result(gateway=GATEWAY, result=result)  # the callback, late
        return case_apply_missed(case_id=case.pk, actor_id=None).resolution

    outcomes = run_concurrently(act, times=3)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    payment.refresh_from_db()
    case.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    received = Entry.objects.filter(transaction__ref_type="payment", transaction__ref_id=payment.pk)
    assert received.filter(amount_fen__lt=0).count() == 1
    assert case.status == ReconciliationCase.Status.RESOLVED
    call_command("ledger_check", stdout=StringIO())
