"""Posting under real concurrency on PostgreSQL: first postings that create the same
accounts, listed in different orders, must queue, not deadlock."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef, Posting, ledger_post_many
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 10


def test_first_postings_naming_the_same_new_accounts_in_opposite_orders_never_deadlock():
    # Settlement batches list wallets in accrual order, so two batches can meet the same
    # not-yet-existing accounts in opposite orders (member m first in one, last in the other).
    for round_no in range(ROUNDS):
        # given two wallets that have no account row yet
        first = AccountRef.user(Account.Kind.USER_AVAILABLE, 1_000 + 2 * round_no)
        second = AccountRef.user(Account.Kind.USER_AVAILABLE, 1_001 + 2 * round_no)
        batches = [
            [Posting(f"r{round_no}:a", "test", [(first, 10), (second, -10)])],
            [Posting(f"r{round_no}:b", "test", [(second, 7), (first, -7)])],
        ]

        # when both batches post at once
        results = run_concurrently(lambda i, batches=batches: ledger_post_many(postings=batches[i]), times=2)

        # then both went through, and each account exists once with both postings in it
        assert all(isinstance(r, list) for r in results), results
        assert account_balance(ref=first) == 3
        assert account_balance(ref=second) == -3
        assert Account.objects.filter(owner_id__in=[first.owner_id, second.owner_id]).count() == 2
    assert Transaction.objects.count() == 2 * ROUNDS
    call_command("ledger_check")
