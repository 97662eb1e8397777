from __future__ import annotations

import pytest

from shop.ledger.checks import CHECKS


@pytest.fixture(autouse=True)
def _books_only_ledger_check():
    """These tests post synthetic transactions that no app's sub-ledger knows of, so here
    ``ledger_check`` checks the books alone (every transaction balances, every cached
    balance equals its entries). The apps' reconciliation checks are tested in their apps
    (``rebates/tests/test_ledger_checks.py``) on real purchases."""
    with CHECKS.emptied():
        yield
