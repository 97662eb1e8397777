"""Commission accruals at payment (docs/design.md "Rebates, commission and red envelopes")."""

from __future__ import annotations

from groupstore.services import store_stats_record_commission
from orders.models import Order
from rebates.models import Accrual
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import commission_split


def order_accrue_commission(order: Order) -> None:
    """Order ``paid`` hook: split each item's commission (rates snapshotted on the item)
    into member rebate, owner commission and platform remainder, all **pending**.

    The merchant pays the commission out of its receivable. On a self-purchase, or
    through a frozen store, the owner share goes to the platform. Idempotent: the
    ledger key and the unique (item, kind) constraint make a second run a no-op.
    """
    if Accrual.objects.filter(order=order).exists():
        return
    store = order.store
    owner_earns = not order.is_self_purchase and not store.is_frozen
    accruals: list[Accrual] = []
    totals = {Accrual.Kind.MEMBER_REBATE: 0, Accrual.Kind.OWNER_COMMISSION: 0, Accrual.Kind.PLATFORM: 0}
    for item in order.items.order_by("pk"):
        split = commission_split(
            sale_fen=item.sale_fen,
            commission_bps=item.commission_bps,
            member_share_bps=item.member_share_bps,
            owner_share_bps=item.owner_share_bps,
        )
        owner_fen = split.owner_commission_fen if owner_earns else 0
        platform_fen = split.platform_fen + (split.owner_commission_fen - owner_fen)
        shares = [
            (Accrual.Kind.MEMBER_REBATE, order.buyer_id, split.member_rebate_fen),
            (Accrual.Kind.OWNER_COMMISSION, store.owner_id, owner_fen),
            (Accrual.Kind.PLATFORM, None, platform_fen),
        ]
        for kind, beneficiary_id, amount in shares:
            if amount > 0:
                accruals.append(
                    Accrual(
                        order=order,
                        order_item=item,
                        store=store,
                        beneficiary_id=beneficiary_id,
                        kind=kind,
                        amount_fen=amount,
                    )
                )
                totals[kind] += amount
    if not accruals:
        return
    Accrual.objects.bulk_create(accruals)
    commission = sum(totals.values())
    ledger_post(
        key=f"order:{order.pk}:accrue",
        kind="commission_accrued",
        lines=[
            (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, order.merchant_id), -commission),
            (AccountRef.user(Account.Kind.USER_PENDING, order.buyer_id), totals[Accrual.Kind.MEMBER_REBATE]),
            (
                AccountRef.user(Account.Kind.USER_PENDING, store.owner_id),
                totals[Accrual.Kind.OWNER_COMMISSION],
            ),
            (AccountRef.platform(Account.Kind.PLATFORM_PENDING), totals[Accrual.Kind.PLATFORM]),
        ],
        memo=f"Commission of order {order.pk}",
        ref_type="order",
        ref_id=order.pk,
    )
    if totals[Accrual.Kind.OWNER_COMMISSION]:
        store_stats_record_commission(store_id=store.pk, pending_fen=totals[Accrual.Kind.OWNER_COMMISSION])
