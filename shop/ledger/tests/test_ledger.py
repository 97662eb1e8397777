import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from shop.ledger.errors import UnbalancedTransaction
from shop.ledger.models import Account, Entry, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import (
    AccountRef,
    Posting,
    ledger_apply_balances,
    ledger_post,
    ledger_post_many,
    ledger_write_many_balances_unapplied,
)
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db

CLEARING = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)
ALICE = AccountRef.user(Account.Kind.USER_AVAILABLE, 1)
BOB = AccountRef.user(Account.Kind.USER_AVAILABLE, 2)


def test_a_balanced_post_moves_cached_balances():
    tx, created = ledger_post(key="k1", kind="test", lines=[(CLEARING, -300), (ALICE, 200), (BOB, 100)])

    assert created
    assert tx.entries.count() == 3
    assert account_balance(ref=ALICE) == 200
    assert account_balance(ref=BOB) == 100
    assert account_balance(ref=CLEARING) == -300


def test_posting_the_same_key_twice_changes_nothing():
    ledger_post(key="once", kind="test", lines=[(CLEARING, -50), (ALICE, 50)])
    tx, created = ledger_post(key="once", kind="test", lines=[(CLEARING, -50), (ALICE, 50)])

    assert not created
    assert Transaction.objects.count() == 1
    assert account_balance(ref=ALICE) == 50


def test_an_unbalanced_post_is_refused_and_writes_nothing():
    with pytest.raises(UnbalancedTransaction):
        ledger_post(key="bad", kind="test", lines=[(CLEARING, -50), (ALICE, 49)])

    assert Transaction.objects.count() == 0
    assert Entry.objects.count() == 0


def test_post_many_updates_each_balance_once_and_skips_known_keys():
    ledger_post(key="a", kind="test", lines=[(CLEARING, -10), (ALICE, 10)])
    results = ledger_post_many(
        postings=[
            Posting("a", "test", [(CLEARING, -10), (ALICE, 10)]),
            Posting("b", "test", [(CLEARING, -20), (ALICE, 20)]),
            Posting("c", "test", [(CLEARING, -30), (BOB, 30)]),
        ]
    )

    assert [created for _, created in results] == [False, True, True]
    assert account_balance(ref=ALICE) == 30
    assert account_balance(ref=BOB) == 30
    call_command("ledger_check")


def test_ledger_check_passes_on_balanced_books_and_fails_on_a_broken_transaction(capsys):
    ledger_post(key="ok", kind="test", lines=[(CLEARING, -70), (ALICE, 70)])
    call_command("ledger_check")

    # Someone writes an entry by hand, bypassing ledger_post.
    tx = Transaction.objects.create(idempotency_key="by-hand", kind="test")
    Entry.objects.create(transaction=tx, account=Account.objects.get(owner_id=1), amount_fen=5)

    with pytest.raises(CommandError, match="OUT OF BALANCE"):
        call_command("ledger_check")


def test_ledger_check_fails_when_a_cached_balance_drifts():
    ledger_post(key="ok", kind="test", lines=[(CLEARING, -70), (ALICE, 70)])
    Account.objects.filter(owner_id=1).update(balance_fen=71)

    with pytest.raises(CommandError):
        call_command("ledger_check")


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_key_post_once():
    results = run_concurrently(
        lambda i: ledger_post(key="race", kind="test", lines=[(CLEARING, -5), (ALICE, 5)]), times=8
    )

    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for _, created in results if created) == 1
    assert account_balance(ref=ALICE) == 5
    call_command("ledger_check")


def test_written_postings_change_balances_only_when_applied_once():
    # given postings written in a transaction, their balances not yet applied
    with transaction.atomic():
        written = ledger_write_many_balances_unapplied(
            postings=[Posting("w1", "test", [(CLEARING, -70), (ALICE, 70)])]
        )
        assert Entry.objects.filter(transaction__idempotency_key="w1").count() == 2
        assert account_balance(ref=ALICE) == 0

        # when applied
        ledger_apply_balances(written)

        # then the balances move, and a second apply is refused
        assert account_balance(ref=ALICE) == 70
        with pytest.raises(RuntimeError, match="applied already"):
            ledger_apply_balances(written)
    call_command("ledger_check")


@pytest.mark.django_db(transaction=True)  # really outside any atomic block
def test_writing_postings_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside one transaction"):
        ledger_write_many_balances_unapplied(postings=[Posting("w2", "test", [(CLEARING, -1), (ALICE, 1)])])

    assert not Transaction.objects.exists()
