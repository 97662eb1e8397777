"""Posting to the ledger. The only code that changes a cached balance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from shop.errors import ApplicationError

from .models import Account, Entry, Transaction


class UnbalancedTransaction(ApplicationError):
    code = "ledger_unbalanced"
    http_status = 500


class InsufficientBalance(ApplicationError):
    """A conditional debit found less on the account than it must leave there."""

    code = "insufficient_balance"
    http_status = 409
    default_message = "The balance is too low for this."


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Names an account without loading it: ``AccountRef("user_pending", "user", 42)``."""

    kind: str
    owner_type: str
    owner_id: int = 0

    @classmethod
    def user(cls, kind: str, user_id: int) -> AccountRef:
        return cls(kind, Account.OwnerType.USER, user_id)

    @classmethod
    def merchant(cls, kind: str, merchant_id: int) -> AccountRef:
        return cls(kind, Account.OwnerType.MERCHANT, merchant_id)

    @classmethod
    def platform(cls, kind: str) -> AccountRef:
        return cls(kind, Account.OwnerType.PLATFORM, 0)


def account_get_or_create(*, ref: AccountRef) -> Account:
    account, _ = Account.objects.get_or_create(
        kind=ref.kind, owner_type=ref.owner_type, owner_id=ref.owner_id
    )
    return account


def _account_ref_order(ref: AccountRef) -> tuple[str, str, int]:
    return (ref.kind, ref.owner_type, ref.owner_id)


@dataclass(frozen=True, slots=True)
class Posting:
    key: str
    kind: str
    lines: list[tuple[AccountRef, int]]
    memo: str = ""
    ref_type: str = ""
    ref_id: int | None = None


@transaction.atomic
def ledger_post(
    *,
    key: str,
    kind: str,
    lines: list[tuple[AccountRef, int]],
    memo: str = "",
    ref_type: str = "",
    ref_id: int | None = None,
    floors: dict[AccountRef, int] | None = None,
) -> tuple[Transaction, bool]:
    """Post one balanced transaction; returns ``(transaction, created)``.

    Idempotent by ``key``: posting the same key again returns the first transaction and
    changes nothing (a retried task cannot pay twice). Zero lines are dropped.

    ``floors`` makes it a conditional debit: each named account must still hold at least
    its floor afterwards, checked in the balance's own ``UPDATE … WHERE balance + d >= floor``
    (so two concurrent debits cannot both pass); otherwise ``InsufficientBalance`` and
    nothing is written.
    """
    postings = ledger_post_many(postings=[Posting(key, kind, lines, memo, ref_type, ref_id)], floors=floors)
    return postings[0]


@transaction.atomic
def ledger_post_many(
    *, postings: list[Posting], floors: dict[AccountRef, int] | None = None
) -> list[tuple[Transaction, bool]]:
    """Post several balanced transactions at once: entries inserted in bulk and each
    cached balance updated once, in account-pk order (no deadlock between batches).

    Each posting is idempotent by its key, exactly as ``ledger_post``; ``floors`` as there.
    """
    for posting in postings:
        if sum(amount for _, amount in posting.lines) != 0:
            raise UnbalancedTransaction(f"Transaction {posting.key} does not balance.", key=posting.key)

    keys = [p.key for p in postings]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate idempotency keys in one batch")
    existing = {t.idempotency_key: t for t in Transaction.objects.filter(idempotency_key__in=keys)}

    results: dict[str, tuple[Transaction, bool]] = {k: (t, False) for k, t in existing.items()}
    fresh = [p for p in postings if p.key not in existing]
    if fresh:
        # Get or create accounts in one fixed order: a first posting inserts the row, and two
        # batches inserting the same new accounts in different orders would deadlock.
        refs = sorted({ref for p in fresh for ref, _ in p.lines}, key=_account_ref_order)
        accounts = {ref: account_get_or_create(ref=ref) for ref in refs}
        created_txs = []
        for p in fresh:
            try:
                with transaction.atomic():
                    tx = Transaction.objects.create(
                        idempotency_key=p.key,
                        kind=p.kind,
                        memo=p.memo[:255],
                        ref_type=p.ref_type,
                        ref_id=p.ref_id,
                    )
            except IntegrityError:
                # A concurrent poster won the race for this key: theirs stands, ours is a no-op.
                results[p.key] = (Transaction.objects.get(idempotency_key=p.key), False)
                continue
            created_txs.append((p, tx))
            results[p.key] = (tx, True)

        deltas: dict[int, int] = defaultdict(int)
        entries = []
        for p, tx in created_txs:
            for ref, amount in p.lines:
                if amount == 0:
                    continue
                account = accounts[ref]
                entries.append(Entry(transaction=tx, account=account, amount_fen=amount))
                deltas[account.pk] += amount
        Entry.objects.bulk_create(entries, batch_size=1000)
        floor_by_pk = {accounts[ref].pk: floor for ref, floor in (floors or {}).items() if ref in accounts}
        for account_pk in sorted(deltas):
            if deltas[account_pk]:
                rows = Account.objects.filter(pk=account_pk)
                if account_pk in floor_by_pk:
                    rows = rows.filter(balance_fen__gte=floor_by_pk[account_pk] - deltas[account_pk])
                if not rows.update(balance_fen=F("balance_fen") + deltas[account_pk]):
                    # Only a floored row can miss; the atomic block undoes the entries.
                    raise InsufficientBalance(account_id=account_pk)
    return [results[k] for k in keys]
