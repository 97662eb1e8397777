"""Refunds of orders (docs/design.md "Orders and payments", "Rebates…"): money back to the
buyer through the gateway, stock back on the shelf when nothing has shipped yet, the
commission of the refunded part undone by rebates (``refunded`` hook), the store's
figures pushed down — all in the caller's transaction, once per idempotency key.

Who gives the money back. At payment the merchant's receivable was credited the sale
amount and the marketing budget paid the coupon. A refund of R fen of an item that sold
for S with a coupon C (the buyer paid P = S − C) returns the coupon's share of it to
the marketing budget, C × R / P rounded down, and takes R plus that share from the
merchant — so a full refund puts back exactly S and C, and partial refunds, computed on
running totals, never drift. After settlement the merchant's money has moved to its
payable account, so the refund comes from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from groupstore.services import store_stats_record_refund
from orders import hooks
from orders.errors import IllegalOrderTransition, InvalidRefund, OrderNotFound
from orders.locks import order_qs_for_update
from orders.models import Order, OrderEvent, OrderItem
from products.services import sku_release_stock
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_pro_rata
from shop.payments.models import Payment, PaymentPart, Refund
from shop.payments.refunds import refund_request

from .funds import order_refund_steps_write
from .pickup_codes import pickups_close
from .transitions import order_event_record, order_move

REFUND_PURPOSE = "order_refund"
# Orders whose money is with us and not fully returned. A completed order is refunded
# only by ops (arbitration of a late complaint): callers pass ``by_ops=True``.
REFUNDABLE = frozenset(
    {Order.Status.AWAITING_TEAM, Order.Status.PAID, Order.Status.SHIPPED, Order.Status.RECEIVED}
)
NOT_SHIPPED = frozenset({Order.Status.AWAITING_TEAM, Order.Status.PAID})


@dataclass(frozen=True, slots=True)
class RefundLine:
    """``amount_fen`` of one item back to the buyer; ``qty`` units of it come back too
    (before shipping they return to stock; after, the goods are the merchant's to restock)."""

    order_item_id: int
    amount_fen: int
    qty: int = 0


def item_refundable_fen(item: OrderItem) -> int:
    return item.paid_fen - item.refunded_fen


def _coupon_share(item: OrderItem, refunded_fen: int) -> int:
    """The part of the item's coupon that goes with ``refunded_fen`` of what was paid."""
    if item.coupon_fen == 0 or item.paid_fen == 0:
        return 0
    return fen_pro_rata(item.coupon_fen, refunded_fen, item.paid_fen)


def _discount_share(item: OrderItem, refunded_fen: int) -> int:
    """The part of the member's recorded saving that belonged to the refunded money."""
    if item.paid_fen == 0:
        return 0
    return fen_pro_rata(item.discount_fen, refunded_fen, item.paid_fen)


def _lock_merchant_accounts(merchant_id: int) -> None:
    """The merchant's receivable and payable before any store figure or other account: the
    order a payment (and rebates' settlement) takes, so a refund never deadlocks them."""
    list(
        Account.objects.select_for_update(no_key=True)
        .filter(
            owner_type=Account.OwnerType.MERCHANT,
            owner_id=merchant_id,
            kind__in=[Account.Kind.MERCHANT_RECEIVABLE, Account.Kind.MERCHANT_PAYABLE],
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def order_merchant_refunded_fen(order: Order) -> int:
    """What refunds of this order took from its merchant so far: the refunded money plus
    the coupon's share of it (rebates' settlement moves the rest of the sale to payable)."""
    return sum(item.refunded_fen + _coupon_share(item, item.refunded_fen) for item in order.items.all())


def _merchant_account(order: Order, *, shared: bool = False) -> AccountRef:
    # A shared order never becomes payable: its money is the merchant's at the gateway, and
    # the receivable mirrors it until the unfreeze.
    settled = not shared and hooks.order_is_settled(order)
    kind = Account.Kind.MERCHANT_PAYABLE if settled else Account.Kind.MERCHANT_RECEIVABLE
    return AccountRef.merchant(kind, order.merchant_id)


def order_lock_for_refund(order_id: int) -> Order:
    """Lock order: the payment, then its orders — as the payment callback and cancel do."""
    payment_id = Order.objects.filter(pk=order_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise OrderNotFound()
    Payment.objects.select_for_update(no_key=True).filter(pk=payment_id).first()
    return order_qs_for_update().get(pk=order_id)


@transaction.atomic
def order_refund(
    *,
    order_id: int,
    lines: list[RefundLine],
    reason: str,
    key: str,
    actor=None,
    by_ops: bool = False,
    now: datetime | None = None,
):
    """Refund parts of one order; returns the gateway ``Refund`` (sent after commit).

    Idempotent by ``key``: the same key refunds once and returns the first refund. Lock
    order: the payment, the order, then (in the hooks) accruals, store figures and
    ledger accounts. Refuses, writing nothing: an unpaid,
    cancelled or fully refunded order (409), a completed one unless ``by_ops`` (409),
    an item of another order, an amount beyond what is left to refund (400).
    """
    now = now or timezone.now()
    order = order_lock_for_refund(order_id)

    existing = Refund.objects.filter(key=key).first()
    if existing is not None:
        return existing
    allowed = REFUNDABLE | ({Order.Status.COMPLETED} if by_ops else set())
    if order.status not in allowed:
        raise IllegalOrderTransition(
            f"Order {order.pk} is {order.get_status_display().lower()}; it cannot be refunded"
            + ("." if by_ops or order.status != Order.Status.COMPLETED else " except by ops."),
            order_id=order.pk,
        )
    items = {
        item.pk: item for item in OrderItem.objects.select_for_update().filter(order=order).order_by("pk")
    }
    _check_lines(lines, items)
    _lock_merchant_accounts(order.merchant_id)

    coupon_back_fen = discount_back_fen = 0
    item_refunds: dict[int, int] = {}
    release: list[tuple[int, int]] = []
    for line in sorted(lines, key=lambda line: line.order_item_id):
        item = items[line.order_item_id]
        before, after = item.refunded_fen, item.refunded_fen + line.amount_fen
        coupon_part = _coupon_share(item, after) - _coupon_share(item, before)
        discount_back_fen += _discount_share(item, after) - _discount_share(item, before)
        coupon_back_fen += coupon_part
        item.refunded_fen = after
        fields = ["refunded_fen"]
        if line.qty and order.status in NOT_SHIPPED:
            item.refunded_qty += line.qty
            fields.append("refunded_qty")
            release.append((item.sku_id, line.qty))
        item.save(update_fields=fields)
        item_refunds[item.pk] = line.amount_fen

    total = sum(item_refunds.values())
    order.refunded_fen += total
    fully = all(i.refunded_fen == i.paid_fen for i in items.values())
    if fully and order.status in NOT_SHIPPED:
        # Nothing will ship: every unit not yet released goes back to stock.
        for i in items.values():
            if i.qty > i.refunded_qty:
                release.append((i.sku_id, i.qty - i.refunded_qty))
                i.refunded_qty = i.qty
                i.save(update_fields=["refunded_qty"])
        if order.pickup_point_id is not None:  # no parcel will come to the point: its code is free
            pickups_close(order_ids=[order.pk])
    note = f"{total} fen: {reason}"
    if fully:
        order_move(order, Order.Status.REFUNDED, actor=actor, note=note, fields=("refunded_fen",))
    else:
        order.save(update_fields=["refunded_fen", "updated_at"])
        order_event_record(order, kind=OrderEvent.Kind.PARTLY_REFUNDED, actor=actor, note=note)
    for sku_id, qty in sorted(release):
        sku_release_stock(sku_id=sku_id, qty=qty)
    store_stats_record_refund(
        store_id=order.store_id,
        buyer_id=order.buyer_id,
        refunded_fen=total,
        discount_fen=discount_back_fen,
    )
    hooks.fire(event="refunded", order=order, item_refunds=item_refunds, key=key)
    shared = PaymentPart.objects.filter(order_id=order.pk).exists()
    merchant = _merchant_account(order, shared=shared)
    if coupon_back_fen:
        # The coupon's share of the refunded money was never the buyer's: back to the budget.
        ledger_post(
            key=f"{key}:coupon",
            kind="coupon_returned",
            lines=[
                (merchant, -coupon_back_fen),
                (AccountRef.platform(Account.Kind.MARKETING_BUDGET), coupon_back_fen),
            ],
            memo=f"Coupon share of a refund of order {order.pk}",
            ref_type="order",
            ref_id=order.pk,
        )
    refund = refund_request(
        payment_id=order.payment_id,
        amount_fen=total,
        purpose=REFUND_PURPOSE,
        ref_id=order.pk,
        reason=reason[:80],
        key=key,
        debits=[(merchant, total)],
        order_id=order.pk,
    )
    if shared:
        order_refund_steps_write(order=order, refund=refund, key=key, coupon_back_fen=coupon_back_fen)
    return refund


def _check_lines(lines: list[RefundLine], items: dict[int, OrderItem]) -> None:
    if not lines:
        raise InvalidRefund(fields={"items": ["Name at least one item to refund."]})
    seen: set[int] = set()
    problems: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        item = items.get(line.order_item_id)
        where = f"items.{index}"
        if item is None:
            problems[f"{where}.order_item_id"] = ["No such item in this order."]
        elif line.order_item_id in seen:
            problems[f"{where}.order_item_id"] = ["Each item may appear once."]
        elif not 0 < line.amount_fen <= item_refundable_fen(item):
            problems[f"{where}.amount_fen"] = [f"At most {item_refundable_fen(item)} fen is left to refund."]
        elif not 0 <= line.qty <= item.qty - item.refunded_qty:
            problems[f"{where}.qty"] = [f"At most {item.qty - item.refunded_qty} units."]
        seen.add(line.order_item_id)
    if problems:
        raise InvalidRefund(fields=problems)


def order_refund_full(
    *, order_id: int, reason: str, actor=None, now: datetime | None = None, by_ops: bool = False
):
    """Refund everything still refundable of an order (a failed team, a cancelled payment
    that was paid anyway, an ops ruling). Idempotent: its key is the order's, so a
    second call returns the first refund; an order already refunded is left alone."""
    with transaction.atomic():
        order = order_lock_for_refund(order_id)
        key = f"order:{order.pk}:refund-full"
        existing = Refund.objects.filter(key=key).first()
        if existing is not None or order.status == Order.Status.REFUNDED:
            return existing
        lines = [
            RefundLine(
                order_item_id=item.pk, amount_fen=item_refundable_fen(item), qty=item.qty - item.refunded_qty
            )
            for item in order.items.order_by("pk")
            if item_refundable_fen(item) > 0
        ]
        return order_refund(
            order_id=order.pk, lines=lines, reason=reason, key=key, actor=actor, by_ops=by_ops, now=now
        )
