"""A merchant leaving (docs/design.md "Merchants"): listings off sale at once, the margin deposit
refunded through the gateway after a cool-off with no open dispute or after-sales case.

The refund rides on ``shop.payments``' generic ``Refund`` (one refund mechanism for the
whole shop: its task, its in-flight sweeper, its refund-notify callback, its admin):

- ``deposit_refund_start`` — under the merchant's lock, one transaction: the balance is
  split over the deposit payments, newest first (WeChat refunds a payment only within a
  year of it), each up to what is not yet refunded of it; one ``DepositMovement`` of kind
  ``refund`` for the whole balance, and one ``refund_request`` per payment part (purpose
  ``deposit_refund``, ``ref_id`` = that movement, key ``deposit-refund:<movement>:<payment>``)
  whose ledger transaction ``refund:<id>:requested`` moves the part from the deposit into
  refund clearing. The gateway is called after commit by ``shop.payments``.
- ``deposit_refund_succeeded`` (its ``on_succeeded``): when every part of that exit
  refund has succeeded and the deposit is empty, the merchant is closed (the exit is done).
- ``deposit_refund_failed`` (its ``on_failed``): a refused or closed part is **put back
  into the deposit** (``deposit-refund-returned:<refund id>``: refund clearing → deposit,
  plus a ``refund_returned`` movement); the merchant stays leaving, and the sweeper no
  longer starts its refund: ops decide in admin (deduct for a late complaint, or "Refund
  the deposit now", which refunds what the deposit then holds as new refunds). Why back
  into the deposit rather than waiting in refund clearing: the money is still the
  merchant's deposit (ops may have to deduct from it, the merchant sees it), and a refusal
  such as a payment over a year old would be refused again under the same number. The
  purpose is registered with ``failed_money_returned``, so the payments ops queue neither
  lists nor resends these parts. An **abnormal** part (the money left through the gateway
  but the payee's account refused it) is not put back: its money stays in refund clearing,
  in the payments ops queue ("Abnormal"), for ops on the WeChat Pay merchant platform; the
  merchant stays leaving until ops "Refund the deposit now" (which closes it at zero).

Every handler runs inside the transaction that makes the refund final, under the refund's
row lock, and then locks the merchant (lock order: refund, then merchant; the start holds
the merchant, then payments, and refuses while a part is in flight, so the two cannot
wait on each other). Each is idempotent: ``refund_apply`` runs it once per final outcome.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from products.services import products_take_off_sale
from shop.errors import ApplicationError
from shop.ledger.services import ledger_post
from shop.payments.models import Payment, Refund
from shop.payments.refunds import ANOMALY_PURPOSE, refund_clearing, refund_request

from ..errors import (
    AfterSalesOpen,
    DepositFrozen,
    DepositRefundInProgress,
    DepositRefundUnallocatable,
    ExitNotDue,
    MerchantNotActive,
    MerchantNotExiting,
)
from ..locks import merchant_qs_for_update
from ..models import DEPOSIT_PURPOSE, DEPOSIT_REFUND_PURPOSE, DepositMovement, Merchant
from ..registry import open_after_sales_count, open_dispute_count
from ..roles import EXIT, staff_require_role
from ..rules import deposit_refund_cool_off
from ..selectors import deposit_account, deposit_refunds_in_flight, merchant_deposit_balance
from .onboarding import notify_staff

logger = logging.getLogger("merchants.deposits")

REFUND_REASON = "保证金退还"  # WeChat shows it to the payer
SWEEP_BATCH = 200


@transaction.atomic
def merchant_exit_request(*, merchant_id: int, actor, now: datetime | None = None) -> Merchant:
    """The merchant asks to leave: every listing goes off sale at once and the deposit is
    refunded after the cool-off, if no dispute or after-sales case is open then. Asking
    twice is a no-op. Owner only (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=EXIT)
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
    """Withdraw a request to leave, before the deposit refund has started (or after a part
    of it failed and came back). Listings stay off sale; the merchant republishes them.
    Owner only (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=EXIT)
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
    """Split a refund over the merchant's deposit payments, newest first, each up to its
    room: its amount less its refunds not failed (the rule ``refund_request`` enforces)."""
    payments = list(
        Payment.objects.filter(
            purpose=DEPOSIT_PURPOSE, ref_id=merchant_id, status=Payment.Status.SUCCEEDED
        ).order_by("-paid_at", "-pk")
    )
    used = dict(
        Refund.objects.filter(payment__in=payments)
        .exclude(status=Refund.Status.FAILED)
        .exclude(purpose=ANOMALY_PURPOSE)
        .values_list("payment_id")
        .annotate(total=Sum("amount_fen"))
    )
    left = amount_fen
    parts = []
    for payment in payments:
        take = min(payment.amount_fen - used.get(payment.pk, 0), left)
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


@transaction.atomic
def deposit_refund_start(
    *, merchant_id: int, now: datetime | None = None, actor=None
) -> DepositMovement | None:
    """Refund a leaving merchant's whole deposit, once its cool-off has passed, no dispute
    is open (the deposit is frozen then), no after-sales case is open and no refund of it
    is in flight (409 each, nothing written). A zero balance closes the merchant at once
    (returns None). Otherwise returns the ``refund`` movement; its parts are generic
    ``Refund``s (see the module docstring), sent to the gateway after commit.

    Lock-then-decide on the merchant row: concurrent starts (the sweeper and ops' admin
    action) queue there, and the second finds the first's parts in flight.
    """
    now = now or timezone.now()
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
        note=f"Refunded through the gateway in {len(parts)} part(s), one per deposit payment.",
        actor=actor,
    )
    for payment, amount in parts:
        refund_request(
            payment_id=payment.pk,
            amount_fen=amount,
            purpose=DEPOSIT_REFUND_PURPOSE,
            ref_id=movement.pk,
            reason=REFUND_REASON,
            key=f"deposit-refund:{movement.pk}:{payment.pk}",
            debits=[(deposit_account(merchant.pk), amount)],
        )
    return movement


def deposit_refund_succeeded(refund: Refund) -> None:
    """``on_succeeded`` of purpose ``deposit_refund`` (``MerchantsConfig.ready``): the exit
    is done — the merchant closed — once every part of this exit refund has succeeded and
    the deposit is empty (a deposit paid meanwhile is refunded by the sweeper first)."""
    movement = DepositMovement.objects.get(pk=refund.ref_id)
    merchant = merchant_qs_for_update().get(pk=movement.merchant_id)
    if merchant.status != Merchant.Status.EXITING:
        return
    parts = Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE, ref_id=movement.pk)
    if parts.exclude(status=Refund.Status.SUCCEEDED).exists():
        return  # a part still in flight closes it later; a failed one leaves it to ops
    if deposit_refunds_in_flight(merchant_id=merchant.pk).exists():
        return
    if merchant_deposit_balance(merchant_id=merchant.pk) != 0:
        return
    _close(merchant, refund.finished_at or timezone.now())


def deposit_refund_failed(refund: Refund) -> None:
    """``on_failed`` of purpose ``deposit_refund``: a refused or closed part goes back into
    the deposit (refund clearing → deposit, one ledger transaction keyed by the refund, and
    a ``refund_returned`` movement); an abnormal part stays in refund clearing for ops at
    the gateway. Either way the merchant stays leaving and ops decide (module docstring)."""
    movement = DepositMovement.objects.get(pk=refund.ref_id)
    merchant = merchant_qs_for_update().get(pk=movement.merchant_id)
    if refund.failure_kind == Refund.FailureKind.ABNORMAL:
        logger.error(
            "deposit refund %s of merchant %s is abnormal: ops, handle it on the WeChat Pay platform",
            refund.out_refund_no,
            merchant.pk,
        )
        return
    key = f"deposit-refund-returned:{refund.pk}"
    ledger_post(
        key=key,
        kind="deposit_refund_returned",
        lines=[(refund_clearing(), -refund.amount_fen), (deposit_account(merchant.pk), refund.amount_fen)],
        memo=f"Deposit refund {refund.out_refund_no} failed: {refund.failure_reason}"[:255],
        ref_type="refund",
        ref_id=refund.pk,
    )
    DepositMovement.objects.create(
        merchant=merchant,
        kind=DepositMovement.Kind.REFUND_RETURNED,
        amount_fen=refund.amount_fen,
        balance_after_fen=merchant_deposit_balance(merchant_id=merchant.pk),
        reason_code=DepositMovement.Reason.GATEWAY_REFUSED,
        note=refund.failure_reason[:500],
        payment_id=refund.payment_id,
        ledger_key=key,
    )
    logger.error(
        "deposit refund %s failed (%s): back in the deposit, ops must refund merchant %s",
        refund.out_refund_no,
        refund.failure_reason,
        merchant.pk,
    )


def deposit_refunds_start_due(now: datetime) -> int:
    """Beat's minute tick (and ``run_sweepers``): start the refunds of leaving merchants
    whose cool-off has passed. Merchants with a refund in flight wait for it, and those
    with a failed part are left to ops (admin "Refund the deposit now"); sending and asking
    again about refunds in flight is ``shop.payments``' sweeper. Returns how many started."""
    started = 0
    waiting = Refund.objects.filter(
        purpose=DEPOSIT_REFUND_PURPOSE, status__in=[*Refund.IN_FLIGHT, Refund.Status.FAILED]
    )
    due = (
        Merchant.objects.filter(
            status=Merchant.Status.EXITING, exit_requested_at__lte=now - deposit_refund_cool_off()
        )
        .exclude(
            pk__in=DepositMovement.objects.filter(
                kind=DepositMovement.Kind.REFUND, pk__in=waiting.values("ref_id")
            ).values("merchant_id")
        )
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
        started += 1
    return started
