"""Coupons: the platform's money off a checkout, funded by the marketing budget.

- One coupon per checkout: the buyer's own, ``available``, not expired, and the
  checkout's sale amount (after team/flash prices) at least ``min_spend_fen`` and above
  the coupon's amount (a payment of at least 1 fen remains). Its amount is split over
  the checkout's orders in proportion to their sale amounts, the last order taking the
  remainder, then over each order's items the same way (``shop.money.fen_allocate``):
  the parts always sum exactly to the coupon.
- **Used when the order is created** (a compare-and-set ``available → used`` in
  checkout's transaction, so two checkouts cannot both use it), **given back** when that
  checkout is cancelled or times out unpaid (``coupon_give_back``, from ``order_cancel``).
  ``checkout_payment_succeeded`` debits the marketing budget for each order's
  ``coupon_fen``.
- **Share-reward coupons** are issued *when the reward is granted*: groupstore grants it
  inside ``order_complete`` (``share_reward_consider`` returns it), and orders issues the
  coupon right there, in the same transaction, marking the reward ``issued``
  (``share_reward_mark_issued``): the owner sees the coupon together with the
  notification, and reward and coupon cannot part. A sweeper (``coupons_issue_share_rewards``)
  catches up any reward left ``granted`` (granted by another path, or before this
  existed). Issuing is idempotent: the reward's ``granted → issued`` compare-and-set and
  the coupon's unique ``source_ref``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groupstore.models import ShareReward
from groupstore.selectors import share_rewards_granted
from groupstore.services import share_reward_mark_issued
from orders.errors import CouponMinSpendNotMet, CouponNotFound, CouponNotUsable
from orders.models import Coupon
from shop.money import fen_allocate


def coupon_check(*, coupon_id: int, buyer, sale_fen: int, now: datetime) -> Coupon:
    """The buyer's coupon if this checkout may use it; else 404 (not theirs) or 409."""
    coupon = Coupon.objects.filter(pk=coupon_id, user=buyer).first()
    if coupon is None:
        raise CouponNotFound(coupon_id=coupon_id)
    if coupon.status != Coupon.Status.AVAILABLE or coupon.expires_at <= now:
        raise CouponNotUsable(coupon_id=coupon_id)
    if sale_fen < coupon.min_spend_fen or sale_fen <= coupon.amount_fen:
        raise CouponMinSpendNotMet(coupon_id=coupon_id)
    return coupon


def coupon_split(*, amount_fen: int, sale_fens: list[int]) -> list[int]:
    """A coupon's parts, in proportion to the sale amounts; the last takes the remainder."""
    parts = fen_allocate(amount_fen, sale_fens)
    assert sum(parts) == amount_fen  # noqa: S101 - the split must be exact
    return parts


def coupon_use(*, coupon: Coupon, buyer, payment_id: int, now: datetime) -> None:
    """Inside checkout's transaction: ``available → used`` by compare-and-set, or 409."""
    used = Coupon.objects.filter(
        pk=coupon.pk, user=buyer, status=Coupon.Status.AVAILABLE, expires_at__gt=now
    ).update(status=Coupon.Status.USED, payment_id=payment_id, used_at=now, updated_at=now)
    if used != 1:
        raise CouponNotUsable(coupon_id=coupon.pk)


def coupon_give_back(*, payment_id: int) -> int:
    """The checkout was cancelled (or timed out) unpaid: its coupon is available again."""
    return Coupon.objects.filter(payment_id=payment_id, status=Coupon.Status.USED).update(
        status=Coupon.Status.AVAILABLE, payment=None, used_at=None, updated_at=timezone.now()
    )


def coupon_issue_for_share_reward(*, reward: ShareReward, now: datetime) -> Coupon | None:
    """The owner's coupon for a ``granted`` share reward, in the caller's transaction (or
    its own). Returns None if the reward was already issued or is void."""
    with transaction.atomic():
        if not share_reward_mark_issued(reward_id=reward.pk):
            return None
        rules = settings.SHOP_RULES
        return Coupon.objects.create(
            user_id=reward.owner_id,
            amount_fen=reward.amount_fen,
            min_spend_fen=rules["SHARE_REWARD_COUPON_MIN_SPEND_FEN"],
            expires_at=now + rules["SHARE_REWARD_COUPON_TTL"],
            source=Coupon.Source.SHARE_REWARD,
            source_ref=f"share_reward:{reward.pk}",
        )


def coupons_issue_share_rewards(now: datetime) -> int:
    """Sweeper: issue the coupon of every share reward still ``granted``."""
    issued = 0
    for reward in list(share_rewards_granted()[:500]):
        issued += coupon_issue_for_share_reward(reward=reward, now=now) is not None
    return issued


@transaction.atomic
def coupon_void(*, coupon_id: int) -> bool:
    """Ops withdraw an unused coupon. A used one stays used (its checkout owns it)."""
    return bool(
        Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.AVAILABLE).update(
            status=Coupon.Status.VOID, updated_at=timezone.now()
        )
    )
