from __future__ import annotations

from dataclasses import dataclass

from shop.ledger.models import Account
from shop.ledger.selectors import account_balances_for_owner, entry_list_for_owner


@dataclass(frozen=True)
class Wallet:
    available_fen: int
    pending_fen: int
    held_fen: int

    @property
    def withdrawable_fen(self) -> int:
        """A negative balance (after a clawback) blocks withdrawal."""
        return max(0, self.available_fen)


def wallet_get(*, user_id: int) -> Wallet:
    balances = account_balances_for_owner(owner_type=Account.OwnerType.USER, owner_id=user_id)
    return Wallet(
        available_fen=balances.get(Account.Kind.USER_AVAILABLE, 0),
        pending_fen=balances.get(Account.Kind.USER_PENDING, 0),
        held_fen=balances.get(Account.Kind.USER_HELD, 0),
    )


WALLET_KINDS = [Account.Kind.USER_AVAILABLE, Account.Kind.USER_PENDING, Account.Kind.USER_HELD]


def wallet_entry_list(*, user_id: int):
    return entry_list_for_owner(owner_type=Account.OwnerType.USER, owner_id=user_id, kinds=WALLET_KINDS)
