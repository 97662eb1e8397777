"""Orders paid by profit sharing (docs/merchant-money.md): the money is the merchants' from
the start, frozen at the gateway; the platform's coupon reaches them as a subsidy."""

from __future__ import annotations

from django.db.models import Sum

from merchants.services.deposits import deposit_charge_advanced_refund
from orders.models import Order
from orders.services.notify import order_notify_buyer_refund_made
from shop.ledger.models import Account, Entry
from shop.ledger.services import AccountRef, Posting, ledger_post_many
from shop.payments.models import FundsStep, Payment, PaymentPart
from shop.payments.steps import funds_steps_write


def order_post_paid_shared(*, payment: Payment, orders: list[Order]) -> None:
    """Inside the payment's transaction: each order's money lands in its merchant's frozen
    funds (``order_paid_shared``: frozen −paid, receivable +sale, the coupon from the marketing
    budget), and each order with a platform coupon gets its subsidy step (``B<order>``), sent
    after commit, before any share."""
    ledger_post_many(
        postings=[
            Posting(
                key=f"order:{order.pk}:paid_shared",
                kind="order_paid_shared",
                lines=[
                    (AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, order.merchant_id), -order.paid_fen),
                    (
                        AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, order.merchant_id),
                        order.sale_fen,
                    ),
                    (AccountRef.platform(Account.Kind.MARKETING_BUDGET), -order.coupon_fen),
                ],
                memo=f"Order {order.pk} paid into the merchant's frozen funds",
                ref_type="order",
                ref_id=order.pk,
            )
            for order in orders
        ]
    )
    parts = PaymentPart.objects.filter(payment=payment, subsidy_fen__gt=0).order_by("pk")
    funds_steps_write(
        [
            FundsStep(
                kind=FundsStep.Kind.SUBSIDY,
                part=part,
                order_id=part.order_id,
                merchant_id=part.merchant_id,
                out_no=f"B{part.order_id}",
                amount_fen=part.subsidy_fen,
            )
            for part in parts
        ]
    )


def order_refund_steps_write(*, order: Order, refund, key: str, coupon_back_fen: int) -> None:
    """A refund of a shared order, in its transaction: once the order's share is written (and
    not failed) the platform first returns the commission the refund clawed back
    (``R<refund>``, the same amount rebates' hook moved back to the receivable, so frozen funds
    and receivable stay mirrors), and once the buyer is refunded the coupon's share of it goes
    back as a subsidy return (``BR<refund>``). The refund waits for its share return
    (``parts_refunds``), which waits for a share still in flight to finish (``steps``): a
    share sent before the refund carries the commission the refund undid, so that commission
    must come back even though the share was not yet FINISHED when the refund was made."""
    part = PaymentPart.objects.get(order_id=order.pk)
    shared = (
        FundsStep.objects.filter(order_id=order.pk, kind=FundsStep.Kind.SHARE)
        .exclude(status=FundsStep.Status.FAILED)
        .exists()
    )
    clawed = 0
    if shared:
        clawed = (
            Entry.objects.filter(
                transaction__idempotency_key=f"{key}:commission",
                account__kind=Account.Kind.MERCHANT_RECEIVABLE,
                account__owner_id=order.merchant_id,
            ).aggregate(total=Sum("amount_fen"))["total"]
            or 0
        )
    # A subsidy still in flight reaches the merchant's funds all the same: its part of the
    # refund goes back too (the return waits for the subsidy, ``steps``).
    subsidised = (
        FundsStep.objects.filter(order_id=order.pk, kind=FundsStep.Kind.SUBSIDY)
        .exclude(status=FundsStep.Status.FAILED)
        .exists()
    )
    steps = []
    if clawed > 0:
        steps.append(_refund_step(FundsStep.Kind.SHARE_RETURN, f"R{refund.pk}", part, refund, clawed))
    if coupon_back_fen and subsidised:
        steps.append(
            _refund_step(FundsStep.Kind.SUBSIDY_RETURN, f"BR{refund.pk}", part, refund, coupon_back_fen)
        )
    funds_steps_write(steps)


def _refund_step(kind: str, out_no: str, part: PaymentPart, refund, amount: int) -> FundsStep:
    return FundsStep(
        kind=kind,
        part=part,
        order_id=part.order_id,
        merchant_id=part.merchant_id,
        refund_id=refund.pk,
        out_no=out_no,
        amount_fen=amount,
    )


def order_refund_succeeded(refund) -> None:
    """Refund handler of purpose ``order_refund`` (in the transaction that makes it final): the
    buyer is told the money is back; a shared order's refund the platform advanced is charged
    to the merchant's deposit."""
    order = Order.objects.filter(pk=refund.ref_id).first()
    if order is not None:
        order_notify_buyer_refund_made(order=order, refund_id=refund.pk, amount_fen=refund.amount_fen)
    if refund.part_id is None or not refund.advance_fen:
        return
    deposit_charge_advanced_refund(
        merchant_id=refund.part.merchant_id,
        order_id=refund.part.order_id,
        refund_id=refund.pk,
        amount_fen=refund.advance_fen,
    )
