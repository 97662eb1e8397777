"""Margin deposits (DESIGN.md "Merchants"): paid through the gateway, deducted by ops for
violations (optionally compensating a buyer), frozen while a dispute is open, refunded
through the gateway when the merchant leaves, after a cool-off with no open after-sales.

Every movement is one balanced ledger transaction with an idempotency key, plus a
``DepositMovement`` row saying who did it and why. Every service here locks the
merchant row first, so the balance it decides on cannot change under it, and listings
are suspended or restored in the same transaction as the money moves.

Ledger accounts: ``merchant_deposit`` (the merchant's deposit), ``payout_clearing`` of
the merchant (a refund on its way out through the gateway), ``gateway_clearing``,
``platform_revenue`` and the buyer's ``user_available`` wallet for compensation.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from products.services import (
    products_restore_in_categories,
    products_suspend_in_categories,
    products_take_off_sale,
)
from shop.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_display
from shop.notifications.services import notification_send
from shop.payments.gateways.base import GatewayError
from shop.payments.gateways.registry import gateway_get
from shop.payments.models import Payment
from shop.payments.services import gateway_clearing, payment_create, payment_post_receipt

from ..errors import (
    AfterSalesOpen,
    DepositFrozen,
    DepositInsufficient,
    DepositRefundInProgress,
    ExitNotDue,
    MerchantNotActive,
    MerchantNotExiting,
)
from ..locks import deposit_refund_qs_for_update, merchant_qs_for_update
from ..models import DepositMovement, DepositRefund, Merchant
from ..registry import open_after_sales_count, open_dispute_count
from ..rules import deposit_refund_cool_off
from ..selectors import (
    deposit_account,
    deposit_refund_clearing_account,
    deposit_refunds_in_flight,
    merchant_deposit_balance,
    merchant_restorable_categories,
    merchant_uncovered_categories,
)
from .onboarding import notify_staff

logger = logging.getLogger("merchants.deposits")

DEPOSIT_PURPOSE = "merchant_deposit"
REFUND_REASON = "保证金退还"  # WeChat shows it to the payer
REFUND_RETRY_AFTER = timedelta(minutes=1)  # a refund still in flight is asked about again after this
SWEEP_BATCH = 200
IN_FLIGHT = (DepositRefund.Status.PENDING, DepositRefund.Status.PROCESSING)


class DepositRefundUnallocatable(Conflict):
    code = "deposit_refund_unallocatable"
    default_message = (
        "The deposit is larger than what its payments can refund; ops must refund the rest by hand."
    )


# --- Paying in -------------------------------------------------------------------------


def deposit_payment_create(*, merchant: Merchant, payer, amount_fen: int, gateway: str) -> Payment:
    """A payment that, once paid, adds to the merchant's margin deposit."""
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


# --- Leaving -------------------------------------------------------------------------


@transaction.atomic
def merchant_exit_request(*, merchant_id: int, actor, now: datetime | None = None) -> Merchant:
    """The merchant asks to leave: every listing goes off sale at once and the deposit is
    refunded after the cool-off, if no dispute or after-sales case is open then. Asking
    twice is a no-op."""
    now = now or timezone.now()
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    if merchant.status == Merchant.Status.EXITING:
        return merchant
    if not merchant.can_move_to(Merchant.Status.EXITING):
        raise MerchantNotActive("Only an approved (or suspended) merchant can ask to leave.")
    merchant.status = Merchant.Status.EXITING
    merchant.exit_requested_at = now
    merchant.save(update_fields=["status", "exit_requested_at", "updated_at"])
    taken_off = products_take_off_sale(merchant_id=merchant.pk, actor=actor, reason="The merchant is leaving")
    due = now + deposit_refund_cool_off()
    notify_staff(
        merchant_id=merchant.pk,
        kind="merchant_exit_requested",
        title="You asked to leave",
        body=(
            f"{len(taken_off)} listing(s) are off sale. Your deposit is refunded from "
            f"{timezone.localtime(due):%Y-%m-%d %H:%M} once no after-sales case or dispute is open."
        ),
        data={"refund_due_at": due.isoformat()},
        dedupe=f"merchant-exit:{merchant.pk}:{now.isoformat()}",
    )
    return merchant


@transaction.atomic
def merchant_exit_cancel(*, merchant_id: int, actor) -> Merchant:
    """Withdraw a request to leave, before the deposit refund has started. Listings stay
    off sale; the merchant republishes what it wants."""
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    if merchant.status == Merchant.Status.APPROVED:
        return merchant
    if merchant.status != Merchant.Status.EXITING:
        raise MerchantNotExiting()
    if deposit_refunds_in_flight(merchant_id=merchant.pk).exists():
        raise DepositRefundInProgress("The deposit is already being refunded; the exit cannot be withdrawn.")
    merchant.status = Merchant.Status.APPROVED
    merchant.exit_requested_at = None
    merchant.save(update_fields=["status", "exit_requested_at", "updated_at"])
    return merchant


def refund_due_at(merchant: Merchant) -> datetime | None:
    if merchant.exit_requested_at is None:
        return None
    return merchant.exit_requested_at + deposit_refund_cool_off()


def _allocate_refund(*, merchant_id: int, amount_fen: int) -> list[tuple[Payment, int]]:
    """Split a refund over the merchant's deposit payments, newest first (WeChat refunds a
    payment only within a year of it), each up to what is not yet refunded of it."""
    payments = list(
        Payment.objects.filter(
            purpose=DEPOSIT_PURPOSE, ref_id=merchant_id, status=Payment.Status.SUCCEEDED
        ).order_by("-paid_at", "-pk")
    )
    used = dict(
        DepositRefund.objects.filter(payment__in=payments)
        .exclude(status=DepositRefund.Status.FAILED)
        .values_list("payment_id")
        .annotate(total=Sum("amount_fen"))
    )
    left = amount_fen
    parts = []
    for payment in payments:
        room = payment.amount_fen - used.get(payment.pk, 0)
        take = min(room, left)
        if take > 0:
            parts.append((payment, take))
            left -= take
        if left == 0:
            return parts
    raise DepositRefundUnallocatable(merchant_id=merchant_id, left_fen=left)


def _close(merchant: Merchant, now: datetime) -> None:
    merchant.status = Merchant.Status.CLOSED
    merchant.closed_at = now
    merchant.save(update_fields=["status", "closed_at", "updated_at"])
    notify_staff(
        merchant_id=merchant.pk,
        kind="merchant_closed",
        title="Your shop is closed and your deposit refunded",
        body="",
        data={"merchant_id": merchant.pk},
        dedupe=f"merchant-closed:{merchant.pk}:{now.isoformat()}",
    )


def deposit_refund_start(
    *, merchant_id: int, now: datetime | None = None, actor=None
) -> DepositMovement | None:
    """Refund a leaving merchant's whole deposit, once its cool-off has passed, no dispute
    is open (the deposit is frozen then) and no after-sales case is open.

    The balance moves to the merchant's payout clearing account and one gateway refund
    per deposit payment is recorded, in one transaction; the gateway calls happen after
    commit (a task, and the sweeper for anything left). A zero balance closes the
    merchant at once. Returns the refund movement, or None when nothing was left.
    """
    from ..tasks import deposit_refund_send_task

    now = now or timezone.now()
    with transaction.atomic():
        merchant = merchant_qs_for_update().get(pk=merchant_id)
        if merchant.status != Merchant.Status.EXITING:
            raise MerchantNotExiting()
        due = refund_due_at(merchant)
        if now < due:
            raise ExitNotDue(f"The deposit is refunded from {timezone.localtime(due):%Y-%m-%d %H:%M}.")
        if open_dispute_count(merchant.pk):
            raise DepositFrozen()
        if open_after_sales_count(merchant.pk):
            raise AfterSalesOpen()
        if deposit_refunds_in_flight(merchant_id=merchant.pk).exists():
            raise DepositRefundInProgress()
        balance = merchant_deposit_balance(merchant_id=merchant.pk)
        if balance == 0:
            _close(merchant, now)
            return None
        parts = _allocate_refund(merchant_id=merchant.pk, amount_fen=balance)
        movement = DepositMovement.objects.create(
            merchant=merchant,
            kind=DepositMovement.Kind.REFUND,
            amount_fen=-balance,
            balance_after_fen=0,
            reason_code=DepositMovement.Reason.EXIT,
            actor=actor,
        )
        key = f"deposit-refund:{movement.pk}"
        ledger_post(
            key=key,
            kind="deposit_refund_started",
            lines=[
                (deposit_account(merchant.pk), -balance),
                (deposit_refund_clearing_account(merchant.pk), balance),
            ],
            memo=f"Deposit refund of merchant {merchant.pk} on exit",
            ref_type="deposit_movement",
            ref_id=movement.pk,
        )
        movement.ledger_key = key
        movement.save(update_fields=["ledger_key"])
        refunds = DepositRefund.objects.bulk_create(
            DepositRefund(
                merchant=merchant,
                movement=movement,
                payment=payment,
                amount_fen=amount,
                out_refund_no=f"DR{movement.pk}N{index}",
            )
            for index, (payment, amount) in enumerate(parts, start=1)
        )
        for refund in refunds:
            transaction.on_commit(partial(deposit_refund_send_task.delay, refund.pk))
    return movement


def deposit_refund_send(*, refund_id: int, now: datetime | None = None) -> DepositRefund:
    """Ask the gateway for one deposit refund and apply its answer. Safe to repeat: the
    gateway refunds one ``out_refund_no`` at most once, and a final refund is left alone.
    Called outside any transaction (no lock is held across the gateway call)."""
    now = now or timezone.now()
    refund = DepositRefund.objects.select_related("payment").get(pk=refund_id)
    if refund.status not in IN_FLIGHT:
        return refund
    DepositRefund.objects.filter(pk=refund.pk).update(attempts=F("attempts") + 1, last_attempt_at=now)
    try:
        answer = gateway_get(refund.payment.gateway).refund(
            out_trade_no=refund.payment.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_fen=refund.amount_fen,
            total_fen=refund.payment.amount_fen,
            reason=REFUND_REASON,
        )
    except GatewayError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            # The gateway said no (e.g. the payment is over a year old): money goes back.
            return deposit_refund_apply(
                out_refund_no=refund.out_refund_no,
                status="FAILED",
                reason=f"{exc.wechat_code or exc.status}: {exc.message}",
                now=now,
            )
        logger.warning("deposit refund %s not sent yet: %s", refund.out_refund_no, exc.message)
        return refund
    except ApplicationError as exc:  # e.g. the gateway is not configured here
        logger.error("deposit refund %s cannot be sent: %s", refund.out_refund_no, exc.message)
        return refund
    return deposit_refund_apply(
        out_refund_no=refund.out_refund_no,
        status=str(answer.get("status", "")),
        gateway_refund_id=str(answer.get("refund_id", "")),
        now=now,
    )


@transaction.atomic
def deposit_refund_apply(
    *,
    out_refund_no: str,
    status: str,
    gateway_refund_id: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> DepositRefund:
    """Apply what the gateway says of a deposit refund (its answer, or a verified refund
    callback): ``SUCCESS`` settles it, ``PROCESSING`` waits, anything else fails it and
    the money goes back into the deposit for ops to deal with. Final refunds ignore
    later news, so a duplicate callback changes nothing. When the last part succeeds
    the merchant is closed."""
    now = now or timezone.now()
    refund = deposit_refund_qs_for_update().filter(out_refund_no=out_refund_no).first()
    if refund is None:
        raise NotFound("No such deposit refund.", out_refund_no=out_refund_no)
    if refund.status not in IN_FLIGHT:
        if status == "SUCCESS" and refund.status == DepositRefund.Status.FAILED:
            logger.error("deposit refund %s reported successful after we failed it", out_refund_no)
        return refund
    clearing = deposit_refund_clearing_account(refund.merchant_id)
    if status == "SUCCESS":
        ledger_post(
            key=f"deposit-refund:{refund.pk}:done",
            kind="deposit_refunded",
            lines=[(clearing, -refund.amount_fen), (gateway_clearing(), refund.amount_fen)],
            memo=f"Deposit refund {out_refund_no}",
            ref_type="deposit_refund",
            ref_id=refund.pk,
        )
        refund.status = DepositRefund.Status.SUCCEEDED
        refund.gateway_refund_id = gateway_refund_id or refund.gateway_refund_id
        refund.finished_at = now
        refund.save(update_fields=["status", "gateway_refund_id", "finished_at", "updated_at"])
        _close_if_refunded(merchant_id=refund.merchant_id, now=now)
        return refund
    if status == "PROCESSING":
        refund.status = DepositRefund.Status.PROCESSING
        refund.gateway_refund_id = gateway_refund_id or refund.gateway_refund_id
        refund.save(update_fields=["status", "gateway_refund_id", "updated_at"])
        return refund
    merchant = merchant_qs_for_update().get(pk=refund.merchant_id)
    key = f"deposit-refund:{refund.pk}:returned"
    ledger_post(
        key=key,
        kind="deposit_refund_returned",
        lines=[(clearing, -refund.amount_fen), (deposit_account(merchant.pk), refund.amount_fen)],
        memo=f"Deposit refund {out_refund_no} failed: {status} {reason}"[:255],
        ref_type="deposit_refund",
        ref_id=refund.pk,
    )
    DepositMovement.objects.create(
        merchant=merchant,
        kind=DepositMovement.Kind.REFUND_RETURNED,
        amount_fen=refund.amount_fen,
        balance_after_fen=merchant_deposit_balance(merchant_id=merchant.pk),
        reason_code=DepositMovement.Reason.GATEWAY_REFUSED,
        note=f"{status} {reason}".strip()[:500],
        ledger_key=key,
    )
    refund.status = DepositRefund.Status.FAILED
    refund.failure_reason = f"{status} {reason}".strip()[:255]
    refund.finished_at = now
    refund.save(update_fields=["status", "failure_reason", "finished_at", "updated_at"])
    logger.error(
        "deposit refund %s failed (%s): ops must refund merchant %s", out_refund_no, status, merchant.pk
    )
    return refund


def _close_if_refunded(*, merchant_id: int, now: datetime) -> None:
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    if merchant.status != Merchant.Status.EXITING:
        return
    if deposit_refunds_in_flight(merchant_id=merchant.pk).exists():
        return
    if merchant_deposit_balance(merchant_id=merchant.pk) != 0:
        return  # a part failed and came back: ops decide
    _close(merchant, now)


# --- The sweeper -------------------------------------------------------------------------


def deposit_refunds_sweep(now: datetime) -> int:
    """Beat's minute tick (and ``run_sweepers``): start the refunds that are due, and ask
    the gateway again about refunds still in flight. Merchants with a failed refund are
    left to ops (admin action "Refund the deposit now"). Returns how many it touched."""
    touched = 0
    stale = (
        DepositRefund.objects.filter(status__in=IN_FLIGHT)
        .filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lte=now - REFUND_RETRY_AFTER))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for refund_id in list(stale):
        deposit_refund_send(refund_id=refund_id, now=now)
        touched += 1
    due = (
        Merchant.objects.filter(
            status=Merchant.Status.EXITING, exit_requested_at__lte=now - deposit_refund_cool_off()
        )
        .exclude(deposit_refunds__status__in=[*IN_FLIGHT, DepositRefund.Status.FAILED])
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for merchant_id in list(due):
        try:
            deposit_refund_start(merchant_id=merchant_id, now=now)
        except (DepositFrozen, AfterSalesOpen, DepositRefundInProgress, MerchantNotExiting, ExitNotDue):
            continue  # not yet; the next tick looks again
        except ApplicationError as exc:
            logger.error("deposit refund of merchant %s cannot start: %s", merchant_id, exc.message)
            continue
        touched += 1
    return touched
