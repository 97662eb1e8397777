from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _books_only_ledger_check(monkeypatch):
    """These tests post synthetic transactions that no app's sub-ledger knows of, so here
    ``ledger_check`` checks the books alone (every transaction balances, every cached
    balance equals its entries). The apps' reconciliation checks are tested in their apps
    (``rebates/tests/test_ledger_checks.py``) on real purchases."""
    monkeypatch.setattr("shop.ledger.management.commands.ledger_check.registered_checks", list)
