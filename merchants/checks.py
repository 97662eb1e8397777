"""Merchants' margin deposits reconciled with their ledger accounts, for ``manage.py
ledger_check`` (docs/design.md "Ledger": deposits with the deposit accounts).

Every posting to a merchant's ``merchant_deposit`` account comes with a
``DepositMovement`` of the same signed amount: paid in (+), deducted for a violation
(−, whatever part of it compensated a buyer), refunded on exit (− the whole balance,
which the exit's refund parts debit), a failed refund part returned (+). So each
merchant's deposit account holds the sum of its movements. One ``GROUP BY`` query.
"""

from __future__ import annotations

from shop.ledger.checks import register_check
from shop.ledger.models import Account
from shop.ledger.reconcile import compare_owned, grouped_fen

from .models import DepositMovement

DEPOSITS_CHECK = "merchants: deposits"


def deposits_check() -> list[str]:
    expected = grouped_fen(DepositMovement.objects.all(), "merchant_id", "amount_fen")
    return compare_owned(
        kind=Account.Kind.MERCHANT_DEPOSIT,
        owner_type=Account.OwnerType.MERCHANT,
        expected=expected,
        describe=lambda merchant_id: f"deposit of merchant {merchant_id} against its deposit movements",
    )


def register_ledger_checks() -> None:
    register_check(name=DEPOSITS_CHECK, run=deposits_check)
