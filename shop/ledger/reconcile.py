"""Helpers for the apps' reconciliation checks (``<app>/checks.py``, registered with
``shop.ledger.checks.register_check``): what the ledger says, and how a disagreement
between it and a sub-ledger is put into words.

A check computes, in a few ``GROUP BY`` queries, what each ledger account should hold
according to its app's own rows (the *expected* figure), reads the cached balances (the
*found* figure: ``ledger_check`` proves each equals the sum of its entries) and reports
every account where they differ, with both amounts and the difference. The merging is
over aggregated rows (one per account), never over orders or accruals one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from .models import Account


def fen_sum(queryset: QuerySet, expression) -> int:
    """``SUM(expression)`` over ``queryset`` in SQL, 0 when empty."""
    return queryset.aggregate(total=Coalesce(Sum(expression), 0))["total"]


def grouped_fen(queryset: QuerySet, by: str | tuple[str, ...], expression) -> dict[Hashable, int]:
    """``{group: SUM(expression)}`` of ``queryset`` grouped by the field(s) ``by`` (one
    ``GROUP BY`` query; a tuple of fields gives tuple keys)."""
    fields = (by,) if isinstance(by, str) else by
    rows = queryset.order_by().values(*fields).annotate(total=Coalesce(Sum(expression), 0))
    if isinstance(by, str):
        return {row[by]: row["total"] for row in rows}
    return {tuple(row[f] for f in fields): row["total"] for row in rows}


def add_into(target: dict, source: Mapping, *, sign: int = 1) -> dict:
    """Add ``source``'s figures into ``target`` (``sign=-1`` subtracts); returns ``target``."""
    for key, fen in source.items():
        target[key] = target.get(key, 0) + sign * fen
    return target


def sum_maps(*parts: tuple[int, Mapping]) -> dict:
    """``sum_maps((1, a), (-1, b))`` → a − b, key by key."""
    total: dict = defaultdict(int)
    for sign, part in parts:
        add_into(total, part, sign=sign)
    return dict(total)


def account_balances(*, kind: str, owner_type: str) -> dict[int, tuple[int, int]]:
    """``{owner_id: (account id, cached balance)}`` of every account of this kind."""
    rows = Account.objects.filter(kind=kind, owner_type=owner_type).values_list(
        "owner_id", "pk", "balance_fen"
    )
    return {owner_id: (pk, balance) for owner_id, pk, balance in rows}


def platform_balance(kind: str) -> tuple[int | None, int]:
    """``(account id, cached balance)`` of a platform account (``(None, 0)`` before its
    first posting)."""
    found = account_balances(kind=kind, owner_type=Account.OwnerType.PLATFORM).get(0)
    return found if found is not None else (None, 0)


def disagreement(*, what: str, account_id: int | None, expected: int, found: int, detail: str = "") -> str:
    """One problem line: which rows, expected vs found, the difference."""
    account = f"account #{account_id}" if account_id is not None else "no account yet"
    line = f"{what} ({account}): expected {expected} fen, found {found} fen"
    line += f", difference {found - expected:+d} fen"
    return f"{line} [{detail}]" if detail else line


def compare_owned(
    *,
    kind: str,
    owner_type: str,
    expected: Mapping[int, int],
    describe: Callable[[int], str],
    detail: Callable[[int], str] | None = None,
    owners: Iterable[int] | None = None,
) -> list[str]:
    """Compare each owner's account of ``kind`` with ``expected[owner_id]`` (missing = 0):
    every owner that has an account or an expected figure is looked at (``owners``
    narrows that to a set). Returns one line per owner that disagrees, in owner order."""
    found = account_balances(kind=kind, owner_type=owner_type)
    keys = set(found) | {k for k, v in expected.items() if v}
    if owners is not None:
        keys &= set(owners)
    problems = []
    for owner_id in sorted(keys):
        account_id, balance = found.get(owner_id, (None, 0))
        want = expected.get(owner_id, 0)
        if balance != want:
            problems.append(
                disagreement(
                    what=describe(owner_id),
                    account_id=account_id,
                    expected=want,
                    found=balance,
                    detail=detail(owner_id) if detail else "",
                )
            )
    return problems
