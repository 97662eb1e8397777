"""Margin deposits (docs/design.md "Merchants"): paid through the gateway, deducted by ops for
violations (optionally compensating a buyer), frozen while a dispute is open. The refund
when a merchant leaves is in ``exit.py``.

Every movement is one balanced ledger transaction with an idempotency key, plus a
``DepositMovement`` row saying who did it and why. Every service here locks the
merchant row first, so the balance it decides on cannot change under it, and listings
are suspended or restored in the same transaction as the money moves.

Ledger accounts: ``merchant_deposit`` (the merchant's deposit), ``gateway_clearing``,
``platform_revenue`` and the buyer's ``user_available`` wallet for compensation.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from products.services import products_restore_in_categories, products_suspend_in_categories
from shop.errors import ValidationFailed
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_display
from shop.notifications.services import notification_send
from shop.payments.models import Payment
from shop.payments.services import payment_create, payment_post_receipt

from ..errors import DepositInsufficient, MerchantNotActive
from ..locks import merchant_qs_for_update
from ..models import DEPOSIT_PURPOSE, DepositMovement, Merchant
from ..roles import DEPOSIT, staff_require_role
from ..selectors import (
    deposit_account,
    merchant_deposit_balance,
    merchant_restorable_categories,
    merchant_uncovered_categories,
)
from .onboarding import notify_staff

logger = logging.getLogger("merchants.deposits")

__all__ = [
    "DEPOSIT_PAYMENT_MAX_FEN",
    "DEPOSIT_PAYMENT_MIN_FEN",
    "DEPOSIT_PURPOSE",
    "deposit_deduct",
    "deposit_payment_create",
    "deposit_payment_succeeded",
]

# One deposit payment is between ¥1 and ¥1,000,000 (the API and the console both refuse others).
DEPOSIT_PAYMENT_MIN_FEN = 100
DEPOSIT_PAYMENT_MAX_FEN = 100_000_000


# --- Paying in -------------------------------------------------------------------------


def deposit_payment_create(*, merchant: Merchant, payer, amount_fen: int, gateway: str) -> Payment:
    """A payment that, once paid, adds to the merchant's margin deposit. The payer is the
    person asking: owner or finance (merchants/roles.py). An amount out of
    ``DEPOSIT_PAYMENT_MIN_FEN..DEPOSIT_PAYMENT_MAX_FEN`` is 400 (nothing written)."""
    staff_require_role(user=payer, merchant_id=merchant.pk, area=DEPOSIT)
    if not DEPOSIT_PAYMENT_MIN_FEN <= amount_fen <= DEPOSIT_PAYMENT_MAX_FEN:
        raise ValidationFailed(
            fields={
                "amount_fen": [
                    f"Must be between {DEPOSIT_PAYMENT_MIN_FEN} and {DEPOSIT_PAYMENT_MAX_FEN} fen."
                ]
            }
        )
    if merchant.status not in (Merchant.Status.APPROVED, Merchant.Status.SUSPENDED):
        raise MerchantNotActive("Only an approved merchant pays a deposit.")
    return payment_create(
        purpose=DEPOSIT_PURPOSE,
        payer_id=payer.pk,
        amount_fen=amount_fen,
        gateway=gateway,
        description=f"Margin deposit of merchant {merchant.pk}",
        ref_id=merchant.pk,
    )


def deposit_payment_succeeded(payment: Payment) -> None:
    """Payment handler (registered in ``MerchantsConfig.ready``), run once per payment in
    the transaction that marks it paid: the deposit grows, and listings suspended for a
    shortfall go back on sale in every category the new balance covers (automatically:
    the merchant had put them on sale; ones it took off sale itself stay off)."""
    merchant = merchant_qs_for_update().get(pk=payment.ref_id)
    payment_post_receipt(
        payment=payment,
        credits=[(deposit_account(merchant.pk), payment.amount_fen)],
        kind="deposit_paid",
    )
    balance = merchant_deposit_balance(merchant_id=merchant.pk)
    restored: list[int] = []
    if merchant.status == Merchant.Status.APPROVED:
        category_ids = list(
            merchant_restorable_categories(merchant_id=merchant.pk, balance_fen=balance).values_list(
                "pk", flat=True
            )
        )
        if category_ids:
            restored = products_restore_in_categories(merchant_id=merchant.pk, category_ids=category_ids)
    elif merchant.status == Merchant.Status.CLOSED:
        # Paid after the merchant left: back to "leaving" so the refund sweeper returns it.
        logger.warning("deposit payment %s arrived after merchant %s closed", payment.pk, merchant.pk)
        merchant.status = Merchant.Status.EXITING
        merchant.save(update_fields=["status", "updated_at"])
    DepositMovement.objects.create(
        merchant=merchant,
        kind=DepositMovement.Kind.PAID,
        amount_fen=payment.amount_fen,
        balance_after_fen=balance,
        reason_code=DepositMovement.Reason.TOP_UP,
        payment=payment,
        actor_id=payment.payer_id,
        ledger_key=f"payment:{payment.pk}:received",
        restored_products_count=len(restored),
    )
    notify_staff(
        merchant_id=merchant.pk,
        kind="deposit_paid",
        title=f"Deposit of {fen_display(payment.amount_fen)} received",
        body=f"Your deposit is now {fen_display(balance)}."
        + (f" {len(restored)} suspended listing(s) are back on sale." if restored else ""),
        data={"payment_id": payment.pk, "balance_fen": balance, "restored_product_ids": restored},
        dedupe=f"deposit-paid:{payment.pk}",
    )


# --- Deductions ------------------------------------------------------------------------


def _check_deduction(
    *, amount_fen: int, reason_code: str, buyer_id: int | None, compensation_fen: int
) -> None:
    problems: dict[str, list[str]] = {}
    if reason_code not in DepositMovement.VIOLATIONS:
        problems["reason_code"] = [f"Choose one of: {', '.join(DepositMovement.VIOLATIONS)}."]
    if amount_fen <= 0:
        problems["amount_fen"] = ["Must be more than 0 fen."]
    if not 0 <= compensation_fen <= max(amount_fen, 0):
        problems["compensation_fen"] = ["Must be between 0 and the amount deducted."]
    if compensation_fen > 0 and buyer_id is None:
        problems["buyer"] = ["Name the buyer who receives the compensation."]
    if buyer_id is not None and not get_user_model().objects.filter(pk=buyer_id).exists():
        problems["buyer"] = ["No such user."]
    if problems:
        raise ValidationFailed(fields=problems)


@transaction.atomic
def deposit_deduct(
    *,
    merchant_id: int,
    amount_fen: int,
    reason_code: str,
    actor,
    note: str = "",
    buyer_id: int | None = None,
    compensation_fen: int = 0,
    order_ref: int | None = None,
    request_key: str | None = None,
) -> DepositMovement:
    """Ops deduct ``amount_fen`` for a violation. ``compensation_fen`` of it goes to the
    buyer's wallet (available at once), the rest to platform revenue. The merchant's
    staff (and the buyer) are notified. When the balance falls below a category's
    standard, the merchant's listings there are suspended in the same transaction.

    Refused (409) beyond the balance. ``request_key`` makes a double-submitted form
    deduct once: the second call returns the first movement.
    """
    _check_deduction(
        amount_fen=amount_fen, reason_code=reason_code, buyer_id=buyer_id, compensation_fen=compensation_fen
    )
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    if request_key:
        earlier = DepositMovement.objects.filter(request_key=request_key).first()
        if earlier is not None:
            return earlier
    balance = merchant_deposit_balance(merchant_id=merchant.pk)
    if amount_fen > balance:
        raise DepositInsufficient(
            f"The deposit holds {fen_display(balance)}; {fen_display(amount_fen)} cannot be deducted."
        )
    after = balance - amount_fen
    movement = DepositMovement.objects.create(
        merchant=merchant,
        kind=DepositMovement.Kind.DEDUCTED,
        amount_fen=-amount_fen,
        balance_after_fen=after,
        reason_code=reason_code,
        note=note[:500],
        actor=actor,
        buyer_id=buyer_id,
        compensation_fen=compensation_fen,
        order_ref=order_ref,
        request_key=request_key or None,
    )
    key = f"deposit-deduct:{movement.pk}"
    lines = [
        (deposit_account(merchant.pk), -amount_fen),
        (AccountRef.platform(Account.Kind.PLATFORM_REVENUE), amount_fen - compensation_fen),
    ]
    if compensation_fen:
        lines.append((AccountRef.user(Account.Kind.USER_AVAILABLE, buyer_id), compensation_fen))
    reason_label = DepositMovement.Reason(reason_code).label
    ledger_post(
        key=key,
        kind="deposit_deducted",
        lines=lines,
        memo=f"{reason_label}: {note}"[:255],
        ref_type="deposit_movement",
        ref_id=movement.pk,
    )
    suspended: list[int] = []
    for category in merchant_uncovered_categories(merchant_id=merchant.pk, balance_fen=after).order_by("pk"):
        suspended += products_suspend_in_categories(
            merchant_id=merchant.pk,
            category_ids=[category.pk],
            reason=(
                f"Deposit {fen_display(after)} is below the {fen_display(category.deposit_fen)} that "
                f"{category.name} requires; pay the difference to put it back on sale."
            ),
        )
    movement.ledger_key = key
    movement.suspended_products_count = len(suspended)
    movement.save(update_fields=["ledger_key", "suspended_products_count"])
    notify_staff(
        merchant_id=merchant.pk,
        kind="deposit_deducted",
        title=f"{fen_display(amount_fen)} deducted from your deposit: {reason_label}",
        body=(note + "\n" if note else "")
        + f"Deposit now {fen_display(after)}."
        + (f" {len(suspended)} listing(s) suspended until it is topped up." if suspended else ""),
        data={
            "movement_id": movement.pk,
            "reason_code": reason_code,
            "amount_fen": amount_fen,
            "balance_fen": after,
            "suspended_product_ids": suspended,
        },
        dedupe=f"deposit-deducted:{movement.pk}",
    )
    if compensation_fen:
        notification_send(
            recipient_id=buyer_id,
            kind="compensation_received",
            title=f"{fen_display(compensation_fen)} compensation added to your wallet",
            body=f"A merchant broke the rules ({reason_label}); you are compensated from its deposit.",
            data={"movement_id": movement.pk, "amount_fen": compensation_fen, "order_id": order_ref},
            dedupe_key=f"deposit-compensation:{movement.pk}",
        )
    return movement


@transaction.atomic
def deposit_charge_advanced_refund(
    *, merchant_id: int, order_id: int, refund_id: int, amount_fen: int
) -> None:
    """A buyer's refund the platform advanced (垫付退款: the merchant's funds at the gateway
    were short) is charged to the merchant's deposit, once per refund (``request_key``). The
    refund took its amount off the merchant's receivable, which mirrors its frozen funds; they
    paid nothing, so the receivable gets it back and the deposit pays (it may go below zero:
    the merchant then owes the platform, and its listings are suspended as for a deduction)."""
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    request_key = f"advance-refund:{refund_id}"
    if DepositMovement.objects.filter(request_key=request_key).exists():
        return
    after = merchant_deposit_balance(merchant_id=merchant.pk) - amount_fen
    movement = DepositMovement.objects.create(
        merchant=merchant,
        kind=DepositMovement.Kind.ADVANCE_REFUND,
        amount_fen=-amount_fen,
        balance_after_fen=after,
        reason_code=DepositMovement.Reason.OTHER_VIOLATION,
        note=f"退款由平台垫付（订单 {order_id}），从保证金扣回",
        order_ref=order_id,
        request_key=request_key,
        ledger_key=f"deposit-advance:{refund_id}",
    )
    ledger_post(
        key=movement.ledger_key,
        kind="advance_refund_charged",
        lines=[
            (deposit_account(merchant.pk), -amount_fen),
            (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant.pk), amount_fen),
        ],
        memo=f"Advanced refund {refund_id} of order {order_id} charged to the deposit",
        ref_type="order",
        ref_id=order_id,
    )
    for category in merchant_uncovered_categories(merchant_id=merchant.pk, balance_fen=after).order_by("pk"):
        products_suspend_in_categories(
            merchant_id=merchant.pk,
            category_ids=[category.pk],
            reason=(
                f"Deposit {fen_display(after)} is below the {fen_display(category.deposit_fen)} that "
                f"{category.name} requires (an advanced refund was charged to it)."
            ),
        )
