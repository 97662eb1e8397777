"""STAND-IN for the profit-sharing services (issue 13 step 3, built on another branch).

Until those services exist, the tests of statements post the ledger transactions they will
post — the kinds and lines of docs/merchant-money.md, "The ledger follows the money" and
"Transaction kinds on ``merchant_frozen``" — directly with ``ledger_post``, balanced, with
``ref_type="order"`` and ``ref_id=<order id>``, and back-date them to the moment a test
needs (a transaction's ``created_at`` is otherwise the time it was written). Once the real
services land, the end-to-end test should drive them instead and these helpers go.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from shop.ledger.models import Account, Transaction
from shop.ledger.services import AccountRef, ledger_post

_seq = itertools.count(1)


def frozen(merchant_id: int) -> AccountRef:
    return AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant_id)


def receivable(merchant_id: int) -> AccountRef:
    return AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant_id)


def platform(kind: str) -> AccountRef:
    return AccountRef.platform(kind)


GATEWAY = platform(Account.Kind.GATEWAY_CLEARING)
MARKETING = platform(Account.Kind.MARKETING_BUDGET)
REVENUE = platform(Account.Kind.PLATFORM_REVENUE)
PLATFORM_PENDING = platform(Account.Kind.PLATFORM_PENDING)
REFUND_CLEARING = platform(Account.Kind.REFUND_CLEARING)


def backdate(tx: Transaction, at: datetime) -> Transaction:
    """Move a posting (and any account it created later than ``at``) back to ``at``."""
    Transaction.objects.filter(pk=tx.pk).update(created_at=at)
    Account.objects.filter(entries__transaction=tx, created_at__gt=at).update(created_at=at)
    tx.refresh_from_db()
    return tx


def post(*, kind: str, order_id: int, at: datetime, lines: list[tuple[AccountRef, int]]) -> Transaction:
    tx, created = ledger_post(
        key=f"test:{kind}:{order_id}:{next(_seq)}", kind=kind, lines=lines, ref_type="order", ref_id=order_id
    )
    assert created
    return backdate(tx, at)


def order_paid_shared(*, merchant_id: int, order_id: int, paid_fen: int, at: datetime, coupon_fen: int = 0):
    """Paid (shared): ``merchant_frozen −paid``, ``merchant_receivable +sale``,
    ``marketing_budget −coupon``."""
    return post(
        kind="order_paid_shared",
        order_id=order_id,
        at=at,
        lines=[
            (frozen(merchant_id), -paid_fen),
            (receivable(merchant_id), paid_fen + coupon_fen),
            (MARKETING, -coupon_fen),
        ],
    )


def subsidy_paid(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="subsidy_paid",
        order_id=order_id,
        at=at,
        lines=[(frozen(merchant_id), -amount_fen), (GATEWAY, amount_fen)],
    )


def subsidy_returned(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="subsidy_returned",
        order_id=order_id,
        at=at,
        lines=[(frozen(merchant_id), amount_fen), (GATEWAY, -amount_fen)],
    )


def share_finished(*, merchant_id: int, order_id: int, commission_fen: int, fee_fen: int, at: datetime):
    """Share FINISHED: ``merchant_frozen +S``, ``gateway_clearing −S``, ``merchant_receivable −fee``,
    ``platform_revenue +fee``, and one of settlement's own moves (the platform's pending part of
    the commission → revenue), which also credits ``platform_revenue`` — why the fee is read
    from the receivable line, not the revenue one."""
    share = commission_fen + fee_fen
    platform_part = commission_fen // 3
    return post(
        kind="share_finished",
        order_id=order_id,
        at=at,
        lines=[
            (frozen(merchant_id), share),
            (GATEWAY, -share),
            (receivable(merchant_id), -fee_fen),
            (REVENUE, fee_fen),
            (PLATFORM_PENDING, -platform_part),
            (REVENUE, platform_part),
        ],
    )


def unfreeze_confirmed(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="unfreeze_confirmed",
        order_id=order_id,
        at=at,
        lines=[(frozen(merchant_id), amount_fen), (receivable(merchant_id), -amount_fen)],
    )


def refund_from_frozen(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="refund_from_frozen",
        order_id=order_id,
        at=at,
        lines=[(REFUND_CLEARING, -amount_fen), (frozen(merchant_id), amount_fen)],
    )


def share_returned(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="share_returned",
        order_id=order_id,
        at=at,
        lines=[(GATEWAY, amount_fen), (frozen(merchant_id), -amount_fen)],
    )


def gateway_fee(*, merchant_id: int, order_id: int, amount_fen: int, at: datetime):
    return post(
        kind="gateway_fee",
        order_id=order_id,
        at=at,
        lines=[(frozen(merchant_id), amount_fen), (GATEWAY, -amount_fen)],
    )


def frozen_balance(merchant_id: int) -> int:
    account = Account.objects.filter(
        kind=Account.Kind.MERCHANT_FROZEN, owner_type="merchant", owner_id=merchant_id
    ).first()
    return account.balance_fen if account else 0
