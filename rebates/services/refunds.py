"""Commission when money goes back (docs/design.md "Rebates, commission and red envelopes").

A refund of part of an item takes the same part of each of its accruals away. The rule
that never pays out more than was funded: what a beneficiary keeps of an accrual is
``amount × (paid − refunded) / paid`` of its item, **rounded down**, computed on the
running totals, so a series of partial refunds ends exactly where one refund of the same
total would, and a full refund leaves nothing.

- Still pending (the order has not settled): the difference is *cancelled*: it leaves
  the beneficiary's pending balance and goes back to the merchant's receivable, which
  paid it.
- Already settled: it is *clawed back* from the available balance (which may go
  negative: a negative wallet cannot withdraw) and goes back to the merchant's payable.
"""

from __future__ import annotations

from django.db.models import F

from groupstore.services import member_stats_record_rebate, store_stats_record_commission
from orders.models import Order, OrderItem
from rebates.models import Accrual
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_pro_rata
from shop.payments.models import PaymentPart


def _kept_fen(accrual: Accrual, item: OrderItem) -> int:
    if item.paid_fen == 0:
        return 0
    return fen_pro_rata(accrual.amount_fen, item.paid_fen - item.refunded_fen, item.paid_fen)


def _beneficiary_ref(accrual: Accrual, *, settled: bool) -> AccountRef:
    if accrual.kind == Accrual.Kind.PLATFORM:
        kind = Account.Kind.PLATFORM_REVENUE if settled else Account.Kind.PLATFORM_PENDING
        return AccountRef.platform(kind)
    kind = Account.Kind.USER_AVAILABLE if settled else Account.Kind.USER_PENDING
    return AccountRef.user(kind, accrual.beneficiary_id)


def order_refunded_adjust_commission(order: Order, *, item_refunds: dict[int, int], key: str) -> None:
    """Order ``refunded`` hook, in the refund's transaction (the order row is locked).

    One ledger transaction per refund, keyed by the refund's own idempotency key (a
    replay of the same refund posts nothing). Store and member figures follow.
    """
    items = {i.pk: i for i in OrderItem.objects.filter(pk__in=item_refunds)}
    accruals = list(
        Accrual.objects.select_for_update(no_key=True, of=("self",))
        .filter(order_item_id__in=item_refunds)
        .order_by("pk")
    )
    lines: list[tuple[AccountRef, int]] = []
    merchant_back = {False: 0, True: 0}  # settled? → fen back to the merchant
    owner_pending = owner_clawed = 0
    member_clawed: dict[tuple[int, int], int] = {}
    for accrual in accruals:
        item = items[accrual.order_item_id]
        current = accrual.amount_fen - accrual.cancelled_fen - accrual.clawed_back_fen
        delta = current - _kept_fen(accrual, item)
        if delta <= 0:
            continue
        settled = accrual.status == Accrual.Status.SETTLED
        lines.append((_beneficiary_ref(accrual, settled=settled), -delta))
        merchant_back[settled] += delta
        field = "clawed_back_fen" if settled else "cancelled_fen"
        Accrual.objects.filter(pk=accrual.pk).update(**{field: F(field) + delta})
        if accrual.kind == Accrual.Kind.OWNER_COMMISSION:
            if settled:
                owner_clawed += delta
            else:
                owner_pending += delta
        elif accrual.kind == Accrual.Kind.MEMBER_REBATE and settled:
            member = (accrual.store_id, accrual.beneficiary_id)
            member_clawed[member] = member_clawed.get(member, 0) + delta
    if not lines:
        return
    if merchant_back[False]:
        lines.append(
            (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, order.merchant_id), merchant_back[False])
        )
    if merchant_back[True]:
        # A shared order's merchant gets it back into its frozen funds (the share return):
        # its receivable, which mirrors them; otherwise into what the platform owes it.
        shared = PaymentPart.objects.filter(order_id=order.pk).exists()
        kind = Account.Kind.MERCHANT_RECEIVABLE if shared else Account.Kind.MERCHANT_PAYABLE
        lines.append((AccountRef.merchant(kind, order.merchant_id), merchant_back[True]))
    # Figures first, ledger accounts after: the lock order settlement and payment use.
    if owner_pending or owner_clawed:
        store_stats_record_commission(
            store_id=order.store_id, pending_fen=-owner_pending, clawed_back_fen=owner_clawed
        )
    for (store_id, user_id), fen in sorted(member_clawed.items()):
        member_stats_record_rebate(store_id=store_id, user_id=user_id, rebate_fen=-fen)
    ledger_post(
        key=f"{key}:commission",
        kind="commission_refunded",
        lines=lines,
        memo=f"Commission undone by a refund of order {order.pk}",
        ref_type="order",
        ref_id=order.pk,
    )
