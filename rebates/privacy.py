"""The wallet part of a person's data (``accounts/privacy.py``): every ledger line of their
wallet and their withdrawals. Ledger lines are never erased (they are the books); an
account with money in its wallet, pending or held, or a debt, cannot be erased."""

from __future__ import annotations

from typing import Any

from shop.money import fen_display

from .selectors import wallet_entry_list, wallet_get, withdrawal_list_for_user


def _wallet_lines_export(user) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.pk,
            "amount_fen": entry.amount_fen,
            "balance": entry.account.kind,
            "kind": entry.transaction.kind,
            "memo": entry.transaction.memo,
            "ref_type": entry.transaction.ref_type,
            "ref_id": entry.transaction.ref_id,
            "created_at": entry.transaction.created_at,
        }
        for entry in wallet_entry_list(user_id=user.pk)
    ]


def _withdrawals_export(user) -> list[dict[str, Any]]:
    return [
        {
            "id": w.pk,
            "amount_fen": w.amount_fen,
            "status": w.status,
            "created_at": w.created_at,
            "finished_at": w.finished_at,
        }
        for w in withdrawal_list_for_user(user_id=user.pk)
    ]


def _open_duties(user) -> list[str]:
    wallet = wallet_get(user_id=user.pk)
    duties = []
    if wallet.available_fen > 0:
        duties.append(f"Your wallet holds {fen_display(wallet.available_fen)}: withdraw it first.")
    elif wallet.available_fen < 0:
        duties.append(f"Your wallet owes {fen_display(-wallet.available_fen)} (a rebate taken back).")
    if wallet.pending_fen:
        duties.append(f"{fen_display(wallet.pending_fen)} of rebates are still pending settlement.")
    if wallet.held_fen:
        duties.append(f"A withdrawal of {fen_display(wallet.held_fen)} is still in progress.")
    return duties


def register_privacy() -> None:
    from accounts.privacy import register_privacy_section

    register_privacy_section(name="wallet_lines", export=_wallet_lines_export, open_duties=_open_duties)
    register_privacy_section(name="withdrawals", export=_withdrawals_export)
