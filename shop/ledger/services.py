"""Posting to the ledger. The only code that changes a cached balance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.db import bulk_add, rows_insert

from . import sql
from .errors import InsufficientBalance, UnbalancedTransaction
from .models import Account, Entry, Transaction


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
    A batch costs a fixed handful of queries whatever its size (settlement posts a few
    hundred orders at a time): accounts looked up and created in bulk, transactions
    inserted with ``ON CONFLICT DO NOTHING RETURNING`` (a key that is already there — or
    that a concurrent poster commits first — returns nothing, so that posting is a no-op),
    entries in bulk, and on PostgreSQL the balances locked in pk order and updated by one
    ``UPDATE … FROM (VALUES …)``.
    """
    written = ledger_write_many_balances_unapplied(postings=postings, floors=floors)
    ledger_apply_balances(written)
    return written.results


@dataclass(slots=True)
class WrittenPostings:
    """What ``ledger_write_many_balances_unapplied`` wrote, and the balance changes it owes."""

    results: list[tuple[Transaction, bool]]
    deltas: dict[int, int]
    floor_by_pk: dict[int, int]
    applied: bool = False


def ledger_write_many_balances_unapplied(
    *, postings: list[Posting], floors: dict[AccountRef, int] | None = None
) -> WrittenPostings:
    """The first half of ``ledger_post_many``: transactions and entries written, cached
    balances **not yet changed**. The caller must pass the result to
    ``ledger_apply_balances`` in the same database transaction (``transaction.atomic``
    around both), or the books drift — hence the name.

    Why it exists: this half locks no shared row (new rows only; an entry's foreign key
    takes a KEY SHARE lock on its account, which no balance update conflicts with). A
    caller posting many transactions at once (settlement) writes them first, then takes
    its shared row locks — the accounts' balances last — so concurrent batches queue
    only for the short end of their transactions.
    """
    for posting in postings:
        if sum(amount for _, amount in posting.lines) != 0:
            raise UnbalancedTransaction(f"Transaction {posting.key} does not balance.", key=posting.key)
    if not connection.in_atomic_block:
        raise RuntimeError("write and apply ledger balances inside one transaction.atomic block")

    keys = [p.key for p in postings]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate idempotency keys in one batch")
    existing = {t.idempotency_key: t for t in Transaction.objects.filter(idempotency_key__in=keys)}

    results: dict[str, tuple[Transaction, bool]] = {k: (t, False) for k, t in existing.items()}
    fresh = [p for p in postings if p.key not in existing]
    deltas: dict[int, int] = defaultdict(int)
    floor_by_pk: dict[int, int] = {}
    if fresh:
        accounts = _accounts_get_or_create(refs={ref for p in fresh for ref, _ in p.lines})
        created = _transactions_insert(fresh)
        lost = [p.key for p in fresh if p.key not in created]
        if lost:
            # A concurrent poster won the race for these keys: theirs stand, ours are no-ops.
            for tx in Transaction.objects.filter(idempotency_key__in=lost):
                results[tx.idempotency_key] = (tx, False)

        entries = []
        for p in fresh:
            tx = created.get(p.key)
            if tx is None:
                continue
            results[p.key] = (tx, True)
            for ref, amount in p.lines:
                if amount == 0:
                    continue
                account_pk = accounts[ref]
                entries.append((tx.pk, account_pk, amount))
                deltas[account_pk] += amount
        _entries_insert(entries)
        floor_by_pk = {accounts[ref]: floor for ref, floor in (floors or {}).items() if ref in accounts}
    return WrittenPostings(
        results=[results[k] for k in keys],
        deltas={pk: d for pk, d in deltas.items() if d},
        floor_by_pk=floor_by_pk,
    )


def ledger_apply_balances(written: WrittenPostings) -> None:
    """The second half of ``ledger_post_many``: each cached balance changed once, the rows
    locked in pk order (``InsufficientBalance`` for a floored account that would end
    below its floor). Once only."""
    if written.applied:
        raise RuntimeError("these postings' balances were applied already")
    written.applied = True
    _balances_add(written.deltas, floor_by_pk=written.floor_by_pk)


def _accounts_get_or_create(*, refs: set[AccountRef]) -> dict[AccountRef, int]:
    """Account pks of these refs; missing accounts are inserted in one fixed (sorted) order,
    so two batches creating the same new accounts queue on the unique index, never deadlock."""
    found = _accounts_find(refs)
    missing = sorted(refs - found.keys(), key=_account_ref_order)
    if missing:
        inserted = sql.accounts_insert(refs=[_account_ref_order(ref) for ref in missing], now=timezone.now())
        for pk, kind, owner_type, owner_id in inserted:
            found[AccountRef(kind, owner_type, owner_id)] = pk
        raced = set(missing) - found.keys()
        if raced:  # created by a concurrent poster meanwhile
            found.update(_accounts_find(raced))
    return found


def _accounts_find(refs: set[AccountRef]) -> dict[AccountRef, int]:
    by_kind: dict[tuple[str, str], set[int]] = defaultdict(set)
    for ref in refs:
        by_kind[(ref.kind, ref.owner_type)].add(ref.owner_id)
    query = Q()
    for (kind, owner_type), owner_ids in by_kind.items():
        query |= Q(kind=kind, owner_type=owner_type, owner_id__in=owner_ids)
    rows = Account.objects.filter(query).values_list("pk", "kind", "owner_type", "owner_id")
    found = {AccountRef(kind, owner_type, owner_id): pk for pk, kind, owner_type, owner_id in rows}
    return {ref: pk for ref, pk in found.items() if ref in refs}


def _transactions_insert(postings: list[Posting]) -> dict[str, Transaction]:
    """Insert the transactions of these postings (in key order); return the ones *this* call
    inserted, by key. A key already taken is skipped by the database, not raised."""
    now = timezone.now()
    ordered = sorted(postings, key=lambda p: p.key)
    inserted = sql.transactions_insert(
        rows=[(p.key, p.kind, p.memo[:255], p.ref_type, p.ref_id, now) for p in ordered]
    )
    by_key = {p.key: p for p in ordered}
    return {
        key: Transaction(
            pk=pk,
            idempotency_key=key,
            kind=by_key[key].kind,
            memo=by_key[key].memo[:255],
            ref_type=by_key[key].ref_type,
            ref_id=by_key[key].ref_id,
            created_at=now,
        )
        for pk, key in inserted
    }


def _entries_insert(rows: list[tuple[int, int, int]]) -> None:
    """``(transaction_id, account_id, amount_fen)`` rows, by ``COPY`` (``rows_insert``: no model
    instances; a settlement batch writes thousands)."""
    rows_insert(model=Entry, fields=("transaction_id", "account_id", "amount_fen"), rows=rows)


def _balances_add(deltas: dict[int, int], *, floor_by_pk: dict[int, int]) -> None:
    """Add each delta to its cached balance, locking the rows in pk order (``bulk_add``). A
    floored account is a conditional debit (``InsufficientBalance`` if it would end below its
    floor; the caller's atomic block undoes the entries)."""
    if not floor_by_pk:
        bulk_add(model=Account, keys=("id",), columns={"balance_fen": 1}, rows=deltas.items())
        return
    for account_pk in sorted(deltas):
        rows = Account.objects.filter(pk=account_pk)
        if account_pk in floor_by_pk:
            rows = rows.filter(balance_fen__gte=floor_by_pk[account_pk] - deltas[account_pk])
        if not rows.update(balance_fen=F("balance_fen") + deltas[account_pk]):
            # Only a floored row can miss.
            raise InsufficientBalance(account_id=account_pk)
