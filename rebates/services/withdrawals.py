"""Wallet withdrawals (docs/design.md "Wallet withdrawal"), paid out through ``shop.payments.payouts``.

Money: creating a withdrawal holds its amount (``user_available`` → ``user_held``) by a
conditional debit in the same transaction as the withdrawal and payout rows, so of any
number of concurrent withdrawals of one balance only as many succeed as it covers, and
a negative wallet withdraws nothing. When the payout succeeds the money goes
``user_held`` → ``payout_clearing`` (and the payout module posts it out to the gateway);
when it fails, is cancelled or expires, ``user_held`` → ``user_available``. Every
posting is keyed by the payout attempt, so news applied twice moves nothing twice.

Lock order: the user's wallet accounts (held and available, in pk order) before
anything else in ``withdrawal_create``; payout → withdrawal → accounts when a payout
changes (the accounts come last on both paths).
"""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from rebates.errors import (
    WithdrawalBalanceShort,
    WithdrawalDailyLimit,
    WithdrawalNotRetryable,
    WithdrawalTooSmall,
)
from rebates.models import Withdrawal
from shop.ledger.errors import InsufficientBalance
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, account_get_or_create, ledger_post
from shop.money import fen_display
from shop.payments.gateways.registry import default_gateway_name
from shop.payments.models import Payout
from shop.payments.payouts import payout_clearing, payout_create

PURPOSE = "wallet_withdrawal"

_STATUS_OF = {
    Payout.State.CREATED: Withdrawal.Status.PROCESSING,
    Payout.State.PROCESSING: Withdrawal.Status.PROCESSING,
    Payout.State.WAIT_USER_CONFIRM: Withdrawal.Status.WAIT_USER_CONFIRM,
    Payout.State.SUCCEEDED: Withdrawal.Status.SUCCEEDED,
    Payout.State.FAILED: Withdrawal.Status.FAILED,
    Payout.State.CANCELLED: Withdrawal.Status.FAILED,
}


def _available(user_id: int) -> AccountRef:
    return AccountRef.user(Account.Kind.USER_AVAILABLE, user_id)


def _held(user_id: int) -> AccountRef:
    return AccountRef.user(Account.Kind.USER_HELD, user_id)


def _lock_wallet(user_id: int) -> Account:
    """Lock the user's available and held accounts (pk order); returns the available one."""
    refs = sorted([_available(user_id), _held(user_id)], key=lambda r: r.kind)
    for ref in refs:  # the ledger's own creation order (by kind), so first posts cannot deadlock
        account_get_or_create(ref=ref)
    accounts = list(
        Account.objects.select_for_update(no_key=True)
        .filter(owner_type=Account.OwnerType.USER, owner_id=user_id)
        .filter(kind__in=[Account.Kind.USER_AVAILABLE, Account.Kind.USER_HELD])
        .order_by("pk")
    )
    return next(a for a in accounts if a.kind == Account.Kind.USER_AVAILABLE)


def _hold(withdrawal: Withdrawal, payout: Payout) -> None:
    """The conditional debit: available must still hold the amount after the post."""
    try:
        ledger_post(
            key=f"withdrawal:{payout.pk}:hold",
            kind="withdrawal_held",
            lines=[
                (_available(withdrawal.user_id), -withdrawal.amount_fen),
                (_held(withdrawal.user_id), withdrawal.amount_fen),
            ],
            floors={_available(withdrawal.user_id): 0},
            memo=f"Withdrawal #{withdrawal.pk} of {fen_display(withdrawal.amount_fen)}",
            ref_type="withdrawal",
            ref_id=withdrawal.pk,
        )
    except InsufficientBalance:
        raise WithdrawalBalanceShort() from None


def _shanghai_day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def withdrawal_create(
    *, user, amount_fen: int, gateway: str | None = None, now: datetime | None = None
) -> Withdrawal:
    """Start a withdrawal of ``amount_fen`` from the user's wallet (the payout is sent by
    the caller after this commits: ``payout_send``, or the sweeper).

    Refused with nothing written: below the minimum (400), above the withdrawable
    balance (409 ``insufficient_balance``), past today's limit (409). Runs under the
    ``Idempotency-Key`` layer, so it is a plain ``atomic``.
    """
    rules = settings.SHOP_RULES
    now = now or timezone.now()
    if amount_fen < rules["WITHDRAWAL_MIN_FEN"]:
        raise WithdrawalTooSmall(fields={"amount_fen": [f"At least {rules['WITHDRAWAL_MIN_FEN']} fen."]})
    with transaction.atomic():
        available = _lock_wallet(user.pk)  # lock first, then decide
        if available.balance_fen < amount_fen:
            raise WithdrawalBalanceShort()
        today = (
            Withdrawal.objects.filter(user=user, created_at__gte=_shanghai_day_start(now))
            .exclude(status=Withdrawal.Status.FAILED)
            .aggregate(total=Coalesce(Sum("amount_fen"), 0))["total"]
        )
        if today + amount_fen > rules["WITHDRAWAL_DAILY_LIMIT_FEN"]:
            raise WithdrawalDailyLimit(
                f"You can withdraw {fen_display(rules['WITHDRAWAL_DAILY_LIMIT_FEN'])} a day; "
                f"{fen_display(today)} is already on its way today."
            )
        withdrawal = Withdrawal.objects.create(user=user, amount_fen=amount_fen)
        payout = payout_create(
            purpose=PURPOSE,
            ref_id=withdrawal.pk,
            payee_id=user.pk,
            amount_fen=amount_fen,
            gateway=gateway or default_gateway_name(),
        )
        withdrawal.payout = payout
        withdrawal.save(update_fields=["payout", "updated_at"])
        _hold(withdrawal, payout)
    return withdrawal


def withdrawal_payout_changed(payout: Payout) -> None:
    """Payout purpose handler, in the transaction that changed the payout: mirror its
    state and move the held money (paid out, or back to the wallet) exactly once."""
    withdrawal = Withdrawal.objects.select_for_update(no_key=True, of=("self",)).get(pk=payout.ref_id)
    if withdrawal.payout_id != payout.pk:
        return  # news of an earlier attempt, which is final already
    withdrawal.status = _STATUS_OF[payout.state]
    fields = ["status", "updated_at"]
    user_id, amount = withdrawal.user_id, withdrawal.amount_fen
    if payout.state == Payout.State.SUCCEEDED:
        ledger_post(
            key=f"withdrawal:{payout.pk}:paid",
            kind="withdrawal_paid",
            lines=[(_held(user_id), -amount), (payout_clearing(user_id), amount)],
            memo=f"Withdrawal #{withdrawal.pk} paid out ({payout.out_bill_no})",
            ref_type="withdrawal",
            ref_id=withdrawal.pk,
        )
    elif payout.state in (Payout.State.FAILED, Payout.State.CANCELLED):
        ledger_post(
            key=f"withdrawal:{payout.pk}:release",
            kind="withdrawal_released",
            lines=[(_held(user_id), -amount), (_available(user_id), amount)],
            memo=f"Withdrawal #{withdrawal.pk} not paid: {payout.fail_reason or payout.state}"[:255],
            ref_type="withdrawal",
            ref_id=withdrawal.pk,
        )
        withdrawal.failure_reason = (payout.fail_reason or payout.get_state_display())[:255]
        fields.append("failure_reason")
    if payout.is_final:
        withdrawal.finished_at = payout.finished_at
        fields.append("finished_at")
    withdrawal.save(update_fields=fields)


def withdrawal_retry_payout(payout: Payout, actor=None) -> Payout:
    """Payout purpose retry (ops, from admin): hold the money again and make a new payout
    with a new number. Only for the withdrawal's current attempt once it failed (so the
    old number is final and can never pay); 409 if the wallet no longer has the money."""
    withdrawal = Withdrawal.objects.select_for_update(no_key=True, of=("self",)).get(pk=payout.ref_id)
    if withdrawal.payout_id != payout.pk or withdrawal.status != Withdrawal.Status.FAILED:
        raise WithdrawalNotRetryable()
    _lock_wallet(withdrawal.user_id)
    new = payout_create(
        purpose=PURPOSE,
        ref_id=withdrawal.pk,
        payee_id=withdrawal.user_id,
        amount_fen=withdrawal.amount_fen,
        gateway=payout.gateway,
    )
    withdrawal.payout = new
    withdrawal.status = Withdrawal.Status.PROCESSING
    withdrawal.attempts += 1
    withdrawal.failure_reason = ""
    withdrawal.finished_at = None
    withdrawal.save(
        update_fields=["payout", "status", "attempts", "failure_reason", "finished_at", "updated_at"]
    )
    _hold(withdrawal, new)
    return new
