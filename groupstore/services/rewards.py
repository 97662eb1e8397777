"""The share reward (docs/design.md "Group store"): a store's owner earns a coupon when the
first new member who joined through the store's link completes a first order of at
least ``SHARE_REWARD_MIN_ORDER_FEN``; once per store, at most ``SHARE_REWARD_DAILY_CAP``
a day per owner.

Rewards follow purchases, never bare sign-ups (no cash for recruiting, one level only:
the patterns Chinese law and WeChat's rules treat as pyramid selling). To keep throwaway
accounts from farming it, the reward needs all of:

- a **completed** order (the after-sales window has closed, so it cannot be refunded
  by the buyer any more) paying at least the minimum in real money (``paid_fen`` is
  after coupons), with the member's net paid spend in the store (refunds taken off)
  at least the minimum too;
- a buyer who is not the owner, and who is *the* first member to join through one of
  the store's own links (not any later joiner, not a member who came in through a
  chat-group bind) — so a store yields at most one candidate;
- a buyer who has never earned a share reward for anyone before (unique ``member``):
  one account that joins store after store first earns its owner one reward, ever;
- a store that is not frozen, and an owner and buyer whose accounts are not frozen;
- one reward per store (unique ``store``) and per order (unique ``order_id``), and at
  most the daily cap per owner (unique owner/day/slot), all decided by unique
  constraints, so concurrent completions cannot pass them.

This app grants the **entitlement** (a ``ShareReward`` row). Turning it into a coupon
in the owner's wallet is the orders app's job (it owns coupons): it issues the coupon for
a ``granted`` reward and calls ``share_reward_mark_issued`` and then
``share_reward_notify_issued`` (the owner's notice, naming the coupon) in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from shop.money import fen_display
from shop.notifications.services import notification_send

from ..models import Membership, ShareReward, Store


def _rule(name: str) -> int:
    return settings.SHOP_RULES[name]


def share_reward_qualifying_member_id(*, store_id: int) -> int | None:
    """The store's first member who joined through one of its own share links."""
    return (
        Membership.objects.filter(
            store_id=store_id, role=Membership.Role.MEMBER, joined_via__store_id=store_id
        )
        .order_by("joined_at", "pk")
        .values_list("user_id", flat=True)
        .first()
    )


def share_reward_consider(
    *, store_id: int, buyer_id: int, order_id: int, paid_fen: int, now: datetime
) -> ShareReward | None:
    """Called by orders when an order through ``store_id`` completes, inside that
    transaction. Grants the store's owner the share reward if this order earns it (the
    rules above) and returns the reward (the owner is told once the coupon exists, see
    ``share_reward_notify_issued``); otherwise returns None.
    Calling it again for the same order (a retried completion) grants nothing twice.
    """
    min_order_fen = _rule("SHARE_REWARD_MIN_ORDER_FEN")
    amount_fen = _rule("SHARE_REWARD_FEN")
    daily_cap = _rule("SHARE_REWARD_DAILY_CAP")
    if paid_fen < min_order_fen or amount_fen <= 0 or daily_cap <= 0:
        return None
    store = Store.objects.filter(pk=store_id).only("pk", "owner_id", "is_frozen", "name").first()
    if store is None or store.is_frozen or buyer_id == store.owner_id:
        return None
    if ShareReward.objects.filter(store_id=store_id).exists():
        return None  # once per store
    if share_reward_qualifying_member_id(store_id=store_id) != buyer_id:
        return None
    net_paid = (
        Membership.objects.filter(store_id=store_id, user_id=buyer_id)
        .values_list("paid_fen", flat=True)
        .first()
    )
    if net_paid is None or net_paid < min_order_fen:
        return None
    frozen = set(
        User.objects.filter(pk__in=[buyer_id, store.owner_id], is_frozen=True).values_list("pk", flat=True)
    )
    if frozen or ShareReward.objects.filter(member_id=buyer_id).exists():
        return None

    day = timezone.localdate(now)
    taken = set(
        ShareReward.objects.filter(owner_id=store.owner_id, granted_on=day).values_list(
            "daily_slot", flat=True
        )
    )
    for slot in range(1, daily_cap + 1):
        if slot in taken:
            continue
        reward = _grant(
            store=store,
            buyer_id=buyer_id,
            order_id=order_id,
            paid_fen=paid_fen,
            amount_fen=amount_fen,
            now=now,
            day=day,
            slot=slot,
        )
        if reward is not None:
            return reward
        if (
            ShareReward.objects.filter(store_id=store_id).exists()
            or ShareReward.objects.filter(member_id=buyer_id).exists()
        ):
            return None  # a concurrent completion took the store's (or this buyer's) reward
        # Otherwise a concurrent reward of the same owner took this slot: try the next one.
    return None  # the owner's cap for today is used up


def _grant(
    *,
    store: Store,
    buyer_id: int,
    order_id: int,
    paid_fen: int,
    amount_fen: int,
    now: datetime,
    day,
    slot: int,
) -> ShareReward | None:
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the caller's transaction usable
            return ShareReward.objects.create(
                store=store,
                owner_id=store.owner_id,
                member_id=buyer_id,
                order_id=order_id,
                order_paid_fen=paid_fen,
                amount_fen=amount_fen,
                granted_at=now,
                granted_on=day,
                daily_slot=slot,
            )
    except IntegrityError:
        return None


def share_reward_notify_issued(*, reward: ShareReward, coupon_id: int) -> None:
    """For the orders app, once it has issued the reward's coupon (same transaction): the
    owner's notice, naming the coupon so the owner finds it in ``GET /coupons``."""
    store_name = reward.store.name  # read with the reward by the sweep (select_related)
    notification_send(
        recipient_id=reward.owner_id,
        kind="share_reward_granted",
        title=f"你获得了一张{fen_display(reward.amount_fen)}分享奖励券",
        body=f"{store_name} 的新成员完成了首单，奖励券已放入你的券包。",
        data={
            "coupon_id": coupon_id,
            "share_reward_id": reward.pk,
            "store_id": reward.store_id,
            "amount_fen": reward.amount_fen,
        },
        dedupe_key=f"share-reward:{reward.pk}",
    )


def share_reward_mark_issued(*, reward_id: int) -> bool:
    """For the orders app, in the transaction that issues the coupon: ``granted`` →
    ``issued``. Returns False if it was not ``granted`` (already issued, or void), so a
    retried issuing creates no second coupon."""
    return bool(
        ShareReward.objects.filter(pk=reward_id, status=ShareReward.Status.GRANTED).update(
            status=ShareReward.Status.ISSUED
        )
    )
