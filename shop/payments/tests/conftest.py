from __future__ import annotations

import pytest

from shop.ledger.checks import CHECKS
from shop.payments.gateways.registry import EXTRA_GATEWAYS

from .helpers import FakeGateway, purposes_for_tests


@pytest.fixture(autouse=True)
def _purposes():
    with purposes_for_tests():
        yield


@pytest.fixture(autouse=True)
def _books_only_ledger_check():
    """These tests pay for and refund a test purpose straight into platform revenue (and
    some make paid payments by hand), which no app's sub-ledger knows of, so here
    ``ledger_check`` checks the books alone. The reconciliation checks, this app's
    included, are tested on real purchases in ``rebates/tests/test_ledger_checks.py``."""
    with CHECKS.emptied():
        yield


@pytest.fixture
def fake():
    """The fake gateway, registered as ``fakepay`` for the test."""
    gateway = FakeGateway()
    with EXTRA_GATEWAYS.override("fakepay", lambda: gateway):
        yield gateway
