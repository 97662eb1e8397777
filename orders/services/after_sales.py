"""After-sales cases (docs/design.md "Orders and payments"): the buyer asks, the merchant
approves or rejects, a rejected buyer may take it to ops, ops rule — and nobody waits
forever.

- A case may be opened on a paid, shipped or received order (not while awaiting its
  team, not once completed: after completion only ops refund), for items of that order,
  for at most what is left to refund of them. One open case per order (a partial unique
  index is the backstop for two taps at once).
- Approving a refund-only case refunds at once through ``order_refund`` (keyed by the
  case, so approving twice pays once). Approving a return-and-refund case shows the
  buyer the merchant's return address (``awaiting_return``); the buyer posts the return's
  tracking (``return_shipped``); the merchant confirms it arrived and the refund goes out.
- Deadlines (``settings.SHOP_RULES["AFTER_SALE_*"]``), applied by the
  ``after_sales_apply_deadlines`` sweeper through ``after_sale_apply_deadline``: the
  merchant answers within 48 h or the case is approved (a return case of a merchant
  with no return address is refunded outright: the buyer could not send the goods
  anywhere); the buyer posts the return within 7 days or the case closes; the merchant
  refunds within 10 days of the post or the refund is made; a rejected buyer may ask
  ops within 7 days. The merchant is warned 12 h before each of its deadlines.
- A dispute freezes the merchant's deposit (merchants' registry counts disputes) and
  blocks completion, so the after-sales window cannot close on an open case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from merchants.roles import ORDERS, staff_require_role
from merchants.selectors import merchant_return_address
from orders.errors import (
    AfterSaleDeadlinePassed,
    AfterSaleNotAllowed,
    AfterSaleNotFound,
    IllegalAfterSaleTransition,
    InvalidRefund,
    OrderNotFound,
    ReturnAddressMissing,
)
from orders.locks import order_qs_for_update
from orders.models import AfterSale, AfterSaleItem, Order, OrderEvent, OrderItem
from shop.money import fen_allocate
from shop.notifications.services import notification_send

from .notify import after_sale_notify_merchant
from .refunds import RefundLine, item_refundable_fen, order_lock_for_refund, order_refund
from .transitions import order_event_record

CASE_STATUSES = frozenset({Order.Status.PAID, Order.Status.SHIPPED, Order.Status.RECEIVED})


@dataclass(frozen=True, slots=True)
class CaseItem:
    order_item_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class AfterSaleEligibility:
    """Whether the buyer may open a case on an order now, and on what terms: the one
    statement of the rule, read by ``after_sale_open`` and by the customer-service
    assistant (which answers "能退款吗 / 退多少 / 到什么时候" from it).

    ``reason``: ``ok``; ``wrong_status`` (unpaid, waiting for its team — a failed team is
    refunded automatically —, completed, cancelled or refunded); ``case_open`` (one case
    per order); ``window_closed`` (received, and its window has closed: the sweeper has not
    completed it yet); ``nothing_left`` (every fen already refunded). ``refundable_fen`` is what
    is left to refund of the whole order (a case may ask at most that). ``deadline_at``:
    when the right to open a case ends — the close of the after-sales window once the
    order is received; ``None`` before receipt (the window has not started yet)."""

    is_allowed: bool
    reason: str
    refundable_fen: int
    deadline_at: datetime | None


def after_sale_eligibility(
    *, order: Order, has_open_case: bool, items: list[OrderItem], now: datetime
) -> AfterSaleEligibility:
    """Pure: decides from the order, its items, whether a case is open and the time (no query)."""
    refundable = sum(item_refundable_fen(i) for i in items)
    deadline = order.after_sales_closes_at if order.status == Order.Status.RECEIVED else None
    if order.status not in CASE_STATUSES:
        reason = "wrong_status"
    elif deadline is not None and deadline <= now:
        reason = "window_closed"
    elif has_open_case:
        reason = "case_open"
    elif refundable <= 0:
        reason = "nothing_left"
    else:
        reason = "ok"
    return AfterSaleEligibility(
        is_allowed=reason == "ok",
        reason=reason,
        refundable_fen=refundable if order.status in CASE_STATUSES and reason != "window_closed" else 0,
        deadline_at=deadline,
    )


def _rule(name: str):
    return settings.SHOP_RULES[f"AFTER_SALE_{name}"]


def after_sale_open(
    *,
    order_id: int,
    buyer,
    kind: str,
    items: list[CaseItem],
    amount_fen: int,
    reason: str,
    now: datetime | None = None,
) -> AfterSale:
    """The buyer opens a case; the merchant has ``AFTER_SALE_RESPOND_WITHIN`` to answer.
    Refusals (someone else's order 404, wrong state or a case already open 409, items or
    amount out of bounds 400) write nothing."""
    try:
        with transaction.atomic():
            return _open(
                order_id=order_id,
                buyer=buyer,
                kind=kind,
                items=items,
                amount_fen=amount_fen,
                reason=reason,
                now=now or timezone.now(),
            )
    except IntegrityError:
        raise AfterSaleNotAllowed("An after-sales case is already open on this order.") from None


def _open(*, order_id, buyer, kind, items, amount_fen, reason, now) -> AfterSale:
    order = order_qs_for_update().filter(pk=order_id, buyer=buyer).first()
    if order is None:
        raise OrderNotFound()
    order_items = {i.pk: i for i in OrderItem.objects.filter(order=order)}
    verdict = after_sale_eligibility(
        order=order,
        has_open_case=order.after_sales.filter(status__in=AfterSale.OPEN).exists(),
        items=list(order_items.values()),
        now=now,
    )
    if verdict.reason == "window_closed":
        raise AfterSaleNotAllowed("The after-sales window of this order has closed.")
    if verdict.reason == "case_open":
        raise AfterSaleNotAllowed("An after-sales case is already open on this order.")
    if verdict.reason == "wrong_status":
        raise AfterSaleNotAllowed(
            f"An after-sales case cannot be opened while the order is {order.get_status_display().lower()}."
        )
    problems: dict[str, list[str]] = {}
    seen: set[int] = set()
    for index, case_item in enumerate(items):
        item = order_items.get(case_item.order_item_id)
        if item is None or case_item.order_item_id in seen:
            problems[f"items.{index}.order_item_id"] = ["No such item in this order (or named twice)."]
        elif case_item.qty > item.qty:
            problems[f"items.{index}.qty"] = [f"The order has {item.qty} of this item."]
        seen.add(case_item.order_item_id)
    if problems:
        raise InvalidRefund(fields=problems)
    refundable = sum(item_refundable_fen(order_items[i.order_item_id]) for i in items)
    if amount_fen > refundable:
        raise InvalidRefund(
            fields={"amount_fen": [f"At most {refundable} fen is left to refund of these items."]}
        )
    case = AfterSale.objects.create(
        order=order,
        buyer=buyer,
        merchant_id=order.merchant_id,
        kind=kind,
        amount_fen=amount_fen,
        reason=reason,
        respond_by=now + _rule("RESPOND_WITHIN"),
    )
    weights = [item_refundable_fen(order_items[i.order_item_id]) for i in items]
    AfterSaleItem.objects.bulk_create(
        AfterSaleItem(after_sale=case, order_item_id=i.order_item_id, qty=i.qty, amount_fen=part)
        for i, part in zip(items, _split_within(amount_fen, weights), strict=True)
    )
    order_event_record(
        order, kind=OrderEvent.Kind.AFTER_SALE, actor=buyer, note=f"Case {case.pk} opened: {reason}"
    )
    after_sale_notify_merchant(case=case, event="opened")
    return case


def _split_within(total_fen: int, caps: list[int]) -> list[int]:
    """Split ``total_fen`` over items in proportion to what is left of each; the caps
    (what is refundable) are never exceeded because the weights are the caps."""
    return fen_allocate(total_fen, caps)


def _case_for_update(case_id: int, *, refunding: bool = False) -> AfterSale:
    """Lock a case; one that may refund locks its payment and order first (the refund's
    lock order), so a decision and a refund of the same order queue, never deadlock."""
    if refunding:
        order_id = AfterSale.objects.filter(pk=case_id).values_list("order_id", flat=True).first()
        if order_id is None:
            raise AfterSaleNotFound()
        order_lock_for_refund(order_id)
    case = AfterSale.objects.select_for_update(no_key=True, of=("self",)).filter(pk=case_id).first()
    if case is None:
        raise AfterSaleNotFound()
    return case


def _move(
    case: AfterSale,
    to: str,
    *,
    actor,
    note_field: str | None = None,
    note: str = "",
    now=None,
    fields: tuple[str, ...] = (),
) -> None:
    """The case's one state writer: a new state starts a new deadline, so the merchant's
    warning (``warned_at``) is cleared with every move."""
    if not case.can_move_to(to):
        raise IllegalAfterSaleTransition(
            f"The case is {case.get_status_display().lower()}; it cannot move to {to}."
        )
    case.status = to
    case.decided_by, case.decided_at, case.warned_at = actor, now or timezone.now(), None
    changed = ["status", "decided_by", "decided_at", "warned_at", "updated_at", *fields]
    if note_field:
        setattr(case, note_field, note[:255])
        changed.append(note_field)
    case.save(update_fields=changed)


def _refund_case(case: AfterSale, *, actor, by_ops: bool, now: datetime | None) -> None:
    lines = [
        RefundLine(order_item_id=i.order_item_id, amount_fen=i.amount_fen, qty=i.qty)
        for i in case.items.all()
        if i.amount_fen > 0
    ]
    order_refund(
        order_id=case.order_id,
        lines=lines,
        reason=f"After-sales case {case.pk}: {case.reason}",
        key=f"after-sale:{case.pk}",
        actor=actor,
        by_ops=by_ops,
        now=now,
    )
    case.refunded_fen = case.amount_fen
    case.save(update_fields=["refunded_fen", "updated_at"])


def _tell_buyer(case: AfterSale, title: str) -> None:
    notification_send(
        recipient_id=case.buyer_id,
        kind="after_sale_update",
        title=title,
        data={"after_sale_id": case.pk, "order_id": case.order_id, "status": case.status},
        dedupe_key=f"after-sale:{case.pk}:{case.status}",
    )


@transaction.atomic
def after_sale_approve(*, case_id: int, merchant_id: int, actor, note: str = "", now=None) -> AfterSale:
    """The merchant agrees. A refund-only case is refunded; a return case waits for the goods
    at the merchant's return address (409 while the merchant has none); a posted return is
    refunded (approving it means the goods are back). Approving twice is a no-op.
    Owner or operator (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    case = _case_for_update(case_id, refunding=True)
    if case.merchant_id != merchant_id:
        raise AfterSaleNotFound()
    return _approve(case, actor=actor, note=note, now=now or timezone.now(), automatic=False)


def _approve(case: AfterSale, *, actor, note: str, now: datetime, automatic: bool) -> AfterSale:
    if case.status in (AfterSale.Status.REFUNDED, AfterSale.Status.AWAITING_RETURN):
        return case
    note_field = "ops_note" if automatic else "merchant_note"
    if case.status == AfterSale.Status.RETURN_SHIPPED:
        return _refund_return(case, actor=actor, note_field=note_field, note=note, now=now)
    if case.kind == AfterSale.Kind.RETURN_REFUND and case.status == AfterSale.Status.REQUESTED:
        address = merchant_return_address(merchant_id=case.merchant_id)
        if address:
            case.return_address, case.return_by = address, now + _rule("RETURN_POST_WITHIN")
            _move(
                case,
                AfterSale.Status.AWAITING_RETURN,
                actor=actor,
                note_field=note_field,
                note=note,
                now=now,
                fields=("return_address", "return_by"),
            )
            _tell_buyer(case, "Your return was approved: send the goods to the merchant's return address")
            return case
        if not automatic:
            raise ReturnAddressMissing()
        # The merchant neither answered nor gave a return address: the buyer cannot send
        # the goods anywhere, so the case is refunded as a refund-only case would be.
    _move(case, AfterSale.Status.REFUNDED, actor=actor, note_field=note_field, note=note, now=now)
    _refund_case(case, actor=actor, by_ops=False, now=now)
    _tell_buyer(case, "Your refund is on its way")
    return case


def _refund_return(case: AfterSale, *, actor, note_field: str, note: str, now: datetime) -> AfterSale:
    _move(case, AfterSale.Status.REFUNDED, actor=actor, note_field=note_field, note=note, now=now)
    _refund_case(case, actor=actor, by_ops=False, now=now)
    _tell_buyer(case, "Your return arrived: your refund is on its way")
    return case


@transaction.atomic
def after_sale_post_return(
    *, case_id: int, buyer, carrier: str, tracking_no: str, now: datetime | None = None
) -> AfterSale:
    """The buyer sent the goods back: the merchant has ``AFTER_SALE_REFUND_WITHIN`` from now
    to refund. Posting the same tracking again is a no-op; after ``return_by``, 409."""
    now = now or timezone.now()
    case = _case_for_update(case_id)
    if case.buyer_id != buyer.pk:
        raise AfterSaleNotFound()
    if case.status == AfterSale.Status.RETURN_SHIPPED and case.return_tracking_no == tracking_no:
        return case
    if case.status == AfterSale.Status.AWAITING_RETURN and case.return_by and case.return_by <= now:
        raise AfterSaleDeadlinePassed("The time to post the return has passed.")
    case.return_carrier, case.return_tracking_no = carrier, tracking_no
    case.return_shipped_at, case.refund_by = now, now + _rule("REFUND_WITHIN")
    _move(
        case,
        AfterSale.Status.RETURN_SHIPPED,
        actor=buyer,
        now=now,
        fields=("return_carrier", "return_tracking_no", "return_shipped_at", "refund_by"),
    )
    after_sale_notify_merchant(case=case, event="return_shipped")
    return case


@transaction.atomic
def after_sale_return_received(*, case_id: int, merchant_id: int, actor, now=None) -> AfterSale:
    """The merchant has the goods back: the refund goes out. Twice is a no-op. Owner or operator."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    case = _case_for_update(case_id, refunding=True)
    if case.merchant_id != merchant_id:
        raise AfterSaleNotFound()
    if case.status == AfterSale.Status.REFUNDED:
        return case
    if case.status != AfterSale.Status.RETURN_SHIPPED:
        raise IllegalAfterSaleTransition("Only a return the buyer has sent back can be received.")
    return _refund_return(case, actor=actor, note_field="merchant_note", note="", now=now or timezone.now())


@transaction.atomic
def after_sale_reject(*, case_id: int, merchant_id: int, actor, note: str, now=None) -> AfterSale:
    """The merchant refuses a request (or a returned parcel): the buyer may ask ops within
    ``AFTER_SALE_ESCALATE_WITHIN``. Owner or operator (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    now = now or timezone.now()
    case = _case_for_update(case_id)
    if case.merchant_id != merchant_id:
        raise AfterSaleNotFound()
    if case.status == AfterSale.Status.REJECTED:
        return case
    case.escalate_by = now + _rule("ESCALATE_WITHIN")
    _move(
        case,
        AfterSale.Status.REJECTED,
        actor=actor,
        note_field="merchant_note",
        note=note,
        now=now,
        fields=("escalate_by",),
    )
    _tell_buyer(case, "The merchant rejected your after-sales request; you may ask the platform to decide")
    return case


@transaction.atomic
def after_sale_escalate(*, case_id: int, buyer, reason: str = "", now=None) -> AfterSale:
    """A rejected buyer takes the case to ops: a dispute (the merchant's deposit is frozen)."""
    case = _case_for_update(case_id)
    if case.buyer_id != buyer.pk:
        raise AfterSaleNotFound()
    if case.status == AfterSale.Status.DISPUTED:
        return case
    order = Order.objects.get(pk=case.order_id)
    if order.status == Order.Status.COMPLETED:
        raise IllegalAfterSaleTransition("The after-sales window has closed; contact customer service.")
    if case.escalate_by and case.escalate_by <= (now or timezone.now()):
        raise AfterSaleDeadlinePassed("The time to ask the platform to decide has passed.")
    _move(case, AfterSale.Status.DISPUTED, actor=buyer, note_field="ops_note", note=reason, now=now)
    after_sale_notify_merchant(case=case, event="disputed")
    return case


@transaction.atomic
def after_sale_withdraw(*, case_id: int, buyer, now=None) -> AfterSale:
    case = _case_for_update(case_id)
    if case.buyer_id != buyer.pk:
        raise AfterSaleNotFound()
    if case.status == AfterSale.Status.CLOSED:
        return case
    _move(case, AfterSale.Status.CLOSED, actor=buyer, now=now)
    return case


@transaction.atomic
def after_sale_arbitrate(*, case_id: int, refund: bool, actor, note: str, now=None) -> AfterSale:
    """Ops rule on a dispute (or on a case the merchant left waiting): refund the buyer, or
    close the case. Ops may refund after completion (a late complaint): that claws back
    settled commission."""
    case = _case_for_update(case_id, refunding=refund)
    if case.status in (AfterSale.Status.REFUNDED, AfterSale.Status.CLOSED):
        return case
    target = AfterSale.Status.REFUNDED if refund else AfterSale.Status.CLOSED
    _move(case, target, actor=actor, note_field="ops_note", note=note, now=now)
    if refund:
        _refund_case(case, actor=actor, by_ops=True, now=now)
    _tell_buyer(case, "The platform decided your after-sales case")
    return case


def after_sale_apply_deadline(*, case_id: int, now: datetime) -> bool:
    """Decide one case whose deadline has passed, as the rules say (in its own transaction);
    False when nothing was due any more (someone acted first)."""
    with transaction.atomic():
        case = _case_for_update(case_id, refunding=True)
        status = case.status
        if status == AfterSale.Status.REQUESTED and _passed(case.respond_by, now):
            hours = int(_rule("RESPOND_WITHIN").total_seconds() // 3600)
            note = f"The merchant did not answer within {hours} h: approved automatically."
            _approve(case, actor=None, note=note, now=now, automatic=True)
        elif status == AfterSale.Status.AWAITING_RETURN and _passed(case.return_by, now):
            note = "The return was not posted in time: closed automatically."
            _move(case, AfterSale.Status.CLOSED, actor=None, note_field="ops_note", note=note, now=now)
            _tell_buyer(case, "Your after-sales case closed: the return was not sent back in time")
        elif status == AfterSale.Status.RETURN_SHIPPED and _passed(case.refund_by, now):
            note = "The merchant did not refund the returned goods in time: refunded automatically."
            _refund_return(case, actor=None, note_field="ops_note", note=note, now=now)
        else:
            return False
    return True


def after_sale_warn_merchant(*, case_id: int, now: datetime) -> bool:
    """Tell the merchant's staff that a deadline of theirs (answer, refund) is near; once
    per deadline. False when there is nothing to warn of."""
    with transaction.atomic():
        case = _case_for_update(case_id)
        deadline = {
            AfterSale.Status.REQUESTED: case.respond_by,
            AfterSale.Status.RETURN_SHIPPED: case.refund_by,
        }.get(case.status)
        if deadline is None or case.warned_at is not None or deadline - _rule("WARN_AHEAD") > now:
            return False
        case.warned_at = now
        case.save(update_fields=["warned_at", "updated_at"])
        after_sale_notify_merchant(case=case, event="deadline_near", deadline=deadline)
    return True


def _passed(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now


def open_dispute_count(merchant_id: int) -> int:
    return AfterSale.objects.filter(merchant_id=merchant_id, status=AfterSale.Status.DISPUTED).count()


def open_after_sales_count(merchant_id: int) -> int:
    """Open cases, and orders whose after-sales window has not closed yet."""
    cases = AfterSale.objects.filter(merchant_id=merchant_id, status__in=AfterSale.OPEN).count()
    windows = Order.objects.filter(
        merchant_id=merchant_id,
        status__in=[
            Order.Status.PAID,
            Order.Status.SHIPPED,
            Order.Status.RECEIVED,
            Order.Status.AWAITING_TEAM,
        ],
    ).count()
    return cases + windows
