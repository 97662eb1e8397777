from __future__ import annotations

from django.db import models
from django.db.models import Sum
from django.db.models.functions import Coalesce

from .models import Account, Entry, Transaction
from .services import AccountRef


def account_balance(*, ref: AccountRef) -> int:
    account = Account.objects.filter(kind=ref.kind, owner_type=ref.owner_type, owner_id=ref.owner_id).first()
    return account.balance_fen if account else 0


def account_balances_for_owner(*, owner_type: str, owner_id: int) -> dict[str, int]:
    rows = Account.objects.filter(owner_type=owner_type, owner_id=owner_id).values_list("kind", "balance_fen")
    return dict(rows)


def entry_list_for_owner(*, owner_type: str, owner_id: int, kinds: list[str] | None = None):
    entries = Entry.objects.filter(account__owner_type=owner_type, account__owner_id=owner_id)
    if kinds:
        entries = entries.filter(account__kind__in=kinds)
    return entries.select_related("transaction", "account").order_by("-id")


def unbalanced_transactions() -> list[tuple[int, int]]:
    """``(transaction id, sum of its entries)`` for every transaction that does not sum to zero."""
    rows = (
        Transaction.objects.annotate(total=Coalesce(Sum("entries__amount_fen"), 0))
        .exclude(total=0)
        .values_list("pk", "total")
    )
    return list(rows)


def drifted_accounts() -> list[tuple[Account, int]]:
    """Accounts whose cached balance differs from the sum of their entries."""
    rows = Account.objects.annotate(
        entries_total=Coalesce(Sum("entries__amount_fen"), 0, output_field=models.BigIntegerField())
    ).exclude(balance_fen=models.F("entries_total"))
    return [(account, account.entries_total) for account in rows]
