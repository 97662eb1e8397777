"""WeChat's handling fee (手续费), booked in the ledger from the trade bill (docs/merchant-money.md
"WeChat's handling fee").

The trade bill gives the fee of every line: a payment's (WeChat charges it), a refund's
(negative: the part of the fee WeChat gives back). Once a trade bill is matched
(``reconciliation``'s ``after_match``), a task of its own (``bill_fees_book_task``: a million
lines' fees are not the matching's time) records them: each line whose payment is ours and whose fee is not 0
becomes one ``GatewayFee`` row, unique by the gateway's own id of the line (``transaction_id``,
``transaction_id/refund_id`` for a refund line) — never by the bill's date — so importing the
bill again, or the line showing up on the next day's bill too, records and books nothing twice,
and two transactions never share a key. Then the fee is booked:

- **a shared payment's part** (profit sharing): the merchant's fee leaves its frozen funds,
  ``merchant_frozen: +fee`` and ``merchant_receivable: −fee`` (what we owe the merchant shrinks
  with its frozen funds: the two stay mirrors, so the unfreeze — which releases what is frozen
  for the order when it is confirmed — releases the rest net of the fee and leaves both at 0).
  One transaction per line, kind ``gateway_fee``, key ``gateway-fee:<gateway>:<fee_key>``,
  ref the order: the merchant's statement reads it as ``gateway_fee_fen`` (rebates/sql.py).
  Recorded with ``posting`` empty, then booked in batches; a batch that died is booked by the
  next run (any trade bill of the gateway), never twice (the key).
- **a platform payment**: the platform's cost, ``gateway_clearing: +fee`` (less money at the
  gateway) and ``gateway_fees: −fee`` (the platform's account of fees, negative by what was
  spent). One transaction per import run for all its new lines (a million-line bill books in
  one statement, not a million postings), in the same database transaction as the rows it books
  (so no row is ever recorded unbooked), kind ``gateway_fee``, key
  ``gateway-fees:<gateway>:<first new row id>``, ref ``("bill_import", id)``.

``gateway_fees_check`` (registered for ``ledger_check``) compares both with the rows.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Sum

from shop.ledger.checks import register_check
from shop.ledger.models import Account, Entry
from shop.ledger.reconcile import disagreement, fen_sum, grouped_fen, platform_balance
from shop.ledger.services import AccountRef, Posting, ledger_post, ledger_post_many

from . import sql
from .models import BillImport, GatewayFee, Payment
from .services import gateway_clearing

logger = logging.getLogger("shop.payments.gateway_fees")

FEE_KIND = "gateway_fee"
BOOK_BATCH = 500
FEES_CHECK = "payments: gateway fees against the trade bills' lines"
# The columns the fee is read from, by the English names of gateways.bills.ALIASES.
_COLUMNS = ("transaction_id", "refund_id", "out_trade_no", "trade_state", "fee")


def _positions(header: list[str]) -> dict[str, int] | None:
    from .gateways.bills import ALIASES

    found = {}
    for name in _COLUMNS:
        for title in ALIASES[name]:
            if title in header:
                found[name] = header.index(title) + 1
                break
    required = {"transaction_id", "out_trade_no", "trade_state", "fee"}
    return found if required <= found.keys() else None


def platform_fees() -> AccountRef:
    return AccountRef.platform(Account.Kind.GATEWAY_FEES)


def bill_fees_book_later(bill: BillImport) -> None:
    """The trade bill's ``after_match``: its fees are booked by a task of their own once the
    matching is done (``bill_import_run`` runs outside any transaction, so the bill is saved).
    A re-import books only what is new."""
    from .tasks import bill_fees_book_task

    bill_fees_book_task.delay(bill.pk)


def bill_fees_book(bill: BillImport) -> int:
    """Record and book the handling fees of a matched trade bill; how many lines were new.
    Safe to run again and side by side with another day's (one booker per gateway)."""
    if bill.kind != "trade" or bill.status != BillImport.Status.DONE:
        return 0
    columns = _positions(list(bill.header or []))
    if columns is None:
        logger.warning("%s has no fee column: no handling fee booked", bill)
        return 0
    with transaction.atomic():
        sql.gateway_fees_lock(gateway=bill.gateway)
        new = sql.gateway_fees_insert(import_id=bill.pk, gateway=bill.gateway, columns=columns)
        for funds, count, fee_fen, first_id in new:
            if funds == Payment.Funds.PLATFORM and fee_fen:
                ledger_post(
                    key=f"gateway-fees:{bill.gateway}:{first_id}",
                    kind=FEE_KIND,
                    lines=[(gateway_clearing(), fee_fen), (platform_fees(), -fee_fen)],
                    memo=f"Handling fees of {count} platform payment line(s), {bill}",
                    ref_type="bill_import",
                    ref_id=bill.pk,
                )
    shared_fees_book(gateway=bill.gateway)
    return sum(count for _, count, _, _ in new)


def shared_fees_book(*, gateway: str) -> int:
    """Book every recorded, not yet booked fee of a shared payment's part, one transaction per
    line, in batches (each its own database transaction); returns how many were booked."""
    booked = 0
    while True:
        with transaction.atomic():
            rows = list(
                GatewayFee.objects.select_for_update(skip_locked=True)
                .filter(gateway=gateway, funds=Payment.Funds.SHARED, posting__isnull=True)
                .order_by("pk")[:BOOK_BATCH]
            )
            if not rows:
                return booked
            written = ledger_post_many(postings=[_shared_posting(row) for row in rows])
            for row, (tx, _) in zip(rows, written, strict=True):
                row.posting_id = tx.pk
            GatewayFee.objects.bulk_update(rows, ["posting"])
            booked += len(rows)


def _shared_posting(row: GatewayFee) -> Posting:
    return Posting(
        key=f"gateway-fee:{row.gateway}:{row.fee_key}",
        kind=FEE_KIND,
        lines=[
            (AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, row.merchant_id), row.fee_fen),
            (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, row.merchant_id), -row.fee_fen),
        ],
        memo=f"WeChat handling fee {row.fee_key}",
        ref_type="order",
        ref_id=row.order_id,
    )


# --- the check ----------------------------------------------------------------------------


def gateway_fees_check() -> list[str]:
    """- every shared part's fee row is booked, and per order its ``gateway_fee`` lines on
      ``merchant_frozen`` are the order's fee rows (a line with no row is found too);
    - per trade-bill import, its platform postings take from ``gateway_fees`` what its
      platform fee rows say, and the platform's ``gateway_fees`` account holds −Σ of them."""
    problems = []
    shared = GatewayFee.objects.filter(funds=Payment.Funds.SHARED)
    unbooked = shared.filter(posting__isnull=True).count()
    if unbooked:
        problems.append(f"{unbooked} shared payment fee row(s) recorded but not booked")
    want = grouped_fen(shared.exclude(posting__isnull=True), "order_id", "fee_fen")
    found = grouped_fen(
        Entry.objects.filter(transaction__kind=FEE_KIND, account__kind=Account.Kind.MERCHANT_FROZEN),
        "transaction__ref_id",
        "amount_fen",
    )
    for order_id in sorted(want.keys() | found.keys()):
        if want.get(order_id, 0) != found.get(order_id, 0):
            problems.append(
                f"handling fees of order {order_id}: expected {want.get(order_id, 0)} fen of gateway_fee "
                f"lines on merchant_frozen (its fee rows), found {found.get(order_id, 0)} fen"
            )
    platform = GatewayFee.objects.filter(funds=Payment.Funds.PLATFORM)
    by_import = grouped_fen(platform, "bill_import_id", "fee_fen")
    booked = grouped_fen(
        Entry.objects.filter(
            transaction__kind=FEE_KIND,
            transaction__ref_type="bill_import",
            account__kind=Account.Kind.GATEWAY_FEES,
        ),
        "transaction__ref_id",
        -F("amount_fen"),
    )
    for import_id in sorted(by_import.keys() | booked.keys()):
        if by_import.get(import_id, 0) != booked.get(import_id, 0):
            problems.append(
                f"handling fees of bill import {import_id}: its platform fee rows say "
                f"{by_import.get(import_id, 0)} fen, its postings booked {booked.get(import_id, 0)} fen"
            )
    total = fen_sum(platform, "fee_fen")
    account_id, balance = platform_balance(Account.Kind.GATEWAY_FEES)
    if balance != -total:
        problems.append(
            disagreement(
                what="gateway fees",
                account_id=account_id,
                expected=-total,
                found=balance,
                detail=f"platform payments' fee rows {total}",
            )
        )
    return problems


def shared_fees_by_merchant() -> dict:
    """``{merchant_id: Σ booked fees of its parts}``, for the frozen-funds and receivable checks."""
    return grouped_fen(
        GatewayFee.objects.filter(funds=Payment.Funds.SHARED, posting__isnull=False), "merchant_id", "fee_fen"
    )


def platform_fees_total() -> int:
    """Σ platform payments' fees (all booked with their rows), for the gateway clearing check."""
    return GatewayFee.objects.filter(funds=Payment.Funds.PLATFORM).aggregate(t=Sum("fee_fen"))["t"] or 0


def register_fee_check() -> None:
    register_check(name=FEES_CHECK, run=gateway_fees_check)
