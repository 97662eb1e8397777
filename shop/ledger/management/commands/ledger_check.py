from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from shop.ledger.checks import registered_checks
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import drifted_accounts, unbalanced_transactions
from shop.money import fen_display


class Command(BaseCommand):
    help = (
        "Check the books: every ledger transaction must balance to zero and every cached "
        "account balance must equal the sum of its entries, and every check the apps "
        "registered (each sub-ledger — accruals, wallets, store and member figures, deposits, "
        "envelopes, payments, refunds, payouts, merchants' receivables and payables — against "
        "the ledger) must hold. Each disagreement is printed with its check, its rows and the "
        "amounts. Exits non-zero if anything disagrees."
    )

    def handle(self, *args, **options):
        self.stdout.write(
            f"Checking {Transaction.objects.count()} transactions and {Account.objects.count()} accounts…"
        )
        problems = 0
        for tx_id, total in unbalanced_transactions():
            problems += 1
            self.stderr.write(f"  transaction #{tx_id} is out of balance by {fen_display(total)}")
        for account, entries_total in drifted_accounts():
            problems += 1
            self.stderr.write(
                f"  account #{account.pk} ({account}) shows {fen_display(account.balance_fen)} "
                f"but its entries sum to {fen_display(entries_total)}"
            )
        for name, check in registered_checks():
            started = time.perf_counter()
            found = check()
            for problem in found:
                self.stderr.write(f"  {name}: {problem}")
            problems += len(found)
            outcome = f"{len(found)} problem(s)" if found else "holds"
            self.stdout.write(f"  {name}: {outcome} ({time.perf_counter() - started:.2f} s)")
        if problems:
            raise CommandError(f"The ledger is OUT OF BALANCE: {problems} problem(s) found.")
        self.stdout.write(self.style.SUCCESS("The ledger balances."))
