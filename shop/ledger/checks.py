"""Invariants that apps above the ledger keep between their rows and ledger balances,
checked by ``manage.py ledger_check`` beside its own (docs/design.md "Ledger").

An upper app registers a check at start-up (``AppConfig.ready``), by name, as it
registers hooks elsewhere: the ledger knows nothing about envelopes or wallets, but
its check is where ops look to see whether the books hold. A check returns one line of
text per problem found (an empty list when all is well).
"""

from __future__ import annotations

from collections.abc import Callable

from shop.registry import Registry

LedgerCheck = Callable[[], list[str]]

CHECKS: Registry[LedgerCheck] = Registry("ledger check")


def register_check(*, name: str, run: LedgerCheck) -> None:
    CHECKS.register(name, run)


def registered_checks() -> list[tuple[str, LedgerCheck]]:
    return sorted(CHECKS.items())
