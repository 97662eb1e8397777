"""Orders paid by profit sharing (docs/merchant-money.md): the money is the merchants' from
the start, frozen at the gateway; the platform's coupon reaches them as a subsidy."""

from __future__ import annotations

from orders.models import Order
from shop.ledger.models import Account
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
