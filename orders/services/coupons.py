"""Coupons: the platform's money off a checkout, funded by the marketing budget, kept in
each shopper's wallet (``GET /coupons``) — share rewards and ops campaigns.

- One coupon per checkout: the buyer's own, ``usable``, within ``valid_from`` ..
  ``expires_at``, and the checkout's sale amount (after team/flash prices) at least
  ``min_spend_fen`` and above the coupon's amount (a payment of at least 1 fen remains).
  Its amount is split over the checkout's orders in proportion to their sale amounts, the
  last order taking the remainder, then over each order's items the same way
  (``shop.money.fen_allocate``): the parts always sum exactly to the coupon.
- **Locked when the order is created** (a compare-and-set ``usable → locked`` in
  checkout's transaction, so two checkouts cannot both take it), **used** when that
  checkout is paid (``coupon_mark_used``, in the payment's transaction), **given back**
  (``locked → usable``) when the checkout is cancelled or times out unpaid
  (``coupon_give_back``, from ``order_cancel``), and ``used → usable`` when every order of
  the checkout was cancelled or in a failed team (``coupon_give_back_after_team_failure``,
  after the team's refund). An after-sales refund never gives it back. A coupon given back
  past its ``expires_at`` is shown as expired. ``checkout_payment_succeeded`` debits the
  marketing budget for each order's ``coupon_fen``.
- **Campaigns** (``CouponCampaign``, ops in admin): launching reserves the cap from the
  marketing budget into the campaign's ``coupon_campaign`` ledger account, refused when the
  budget is short (a conditional debit: the budget may not go below zero). A campaign
  coupon paid for moves its amount from that reserve back to the budget (which pays it,
  as above); one given back after a failed team moves it back into the reserve. Issuing
  is idempotent (``source_ref`` ``campaign:<id>:<user>``, unique) and bounded by the cap
  (``issued_count`` under the campaign's row lock or a conditional UPDATE). Closing stops
  issuing and returns what the reserve holds beyond the coupons still usable or locked;
  the sweeper returns more as those expire. ``orders/checks.py`` compares each reserve
  with its campaign's rows.
- **Share-reward coupons** are issued *when the reward is granted*: groupstore grants it
  inside ``order_complete`` (``share_reward_consider`` returns it), and orders issues the
  coupon right there, in the same transaction, marking the reward ``issued``
  (``share_reward_mark_issued``) and notifying the owner with the coupon's id
  (``share_reward_notify_issued``). A sweeper (``coupons_issue_share_rewards``) catches up
  any reward left ``granted``. Issuing is idempotent: the reward's ``granted → issued``
  compare-and-set and the coupon's unique ``source_ref``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from groupstore.models import Membership, ShareReward
from groupstore.selectors import share_rewards_granted
from groupstore.services import share_reward_mark_issued, share_reward_notify_issued
from orders.errors import (
    CouponCampaignExhausted,
    CouponCampaignNotLaunchable,
    CouponCodeAlreadyRedeemed,
    CouponCodeNotFound,
    CouponMinSpendNotMet,
    CouponNotFound,
    CouponNotUsable,
    MarketingBudgetShort,
)
from orders.models import Coupon, CouponCampaign, MarketingBudgetAllocation, Order, Team
from orders.tasks import coupon_campaign_issue_task
from shop.ledger.errors import InsufficientBalance
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_allocate

ISSUE_BATCH = 500
BUDGET = AccountRef.platform(Account.Kind.MARKETING_BUDGET)
REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)


def campaign_reserve(campaign_id: int) -> AccountRef:
    """The ledger account holding what a campaign reserved and its coupons have not used."""
    return AccountRef(Account.Kind.COUPON_CAMPAIGN, Account.OwnerType.COUPON_CAMPAIGN, campaign_id)


# --- At checkout ------------------------------------------------------------------------------


def coupon_check(*, coupon_id: int, buyer, sale_fen: int, now: datetime) -> Coupon:
    """The buyer's coupon if this checkout may use it; else 404 (not theirs) or 409."""
    coupon = Coupon.objects.filter(pk=coupon_id, user=buyer).first()
    if coupon is None:
        raise CouponNotFound(coupon_id=coupon_id)
    if coupon.status != Coupon.Status.USABLE or not (coupon.valid_from <= now < coupon.expires_at):
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
    """Inside checkout's transaction: ``usable → locked`` by compare-and-set, or 409."""
    taken = Coupon.objects.filter(
        pk=coupon.pk, user=buyer, status=Coupon.Status.USABLE, valid_from__lte=now, expires_at__gt=now
    ).update(status=Coupon.Status.LOCKED, payment_id=payment_id, used_at=now, updated_at=now)
    if taken != 1:
        raise CouponNotUsable(coupon_id=coupon.pk)


def coupon_give_back(*, payment_id: int) -> int:
    """The checkout was cancelled (or timed out) unpaid: its coupon is usable again."""
    return Coupon.objects.filter(payment_id=payment_id, status=Coupon.Status.LOCKED).update(
        status=Coupon.Status.USABLE, payment=None, used_at=None, updated_at=timezone.now()
    )


def coupon_mark_used(*, payment_id: int) -> int:
    """In the payment's transaction: the checkout's coupon is ``used``. A campaign coupon's
    amount moves from its campaign's reserve to the marketing budget, which pays it."""
    coupon = Coupon.objects.filter(payment_id=payment_id, status=Coupon.Status.LOCKED).first()
    if coupon is None:
        return 0
    Coupon.objects.filter(pk=coupon.pk, status=Coupon.Status.LOCKED).update(
        status=Coupon.Status.USED, updated_at=timezone.now()
    )
    if coupon.campaign_id is not None:
        ledger_post(
            key=f"coupon:{coupon.pk}:spent:{payment_id}",
            kind="coupon_campaign_spent",
            lines=[(campaign_reserve(coupon.campaign_id), -coupon.amount_fen), (BUDGET, coupon.amount_fen)],
            memo=f"Coupon {coupon.pk} of campaign {coupon.campaign_id} paid for",
            ref_type="coupon",
            ref_id=coupon.pk,
        )
    return 1


def _orders_alive(orders: QuerySet) -> QuerySet:
    """Those of these orders that keep a coupon used: all but the cancelled ones and those
    refunded because their team failed (whose refunds gave the coupon's money back)."""
    return orders.exclude(status=Order.Status.CANCELLED).exclude(
        status=Order.Status.REFUNDED, team_member__team__status=Team.Status.FAILED
    )


@transaction.atomic
def coupon_give_back_after_team_failure(*, payment_id: int) -> int:
    """A paid checkout's team failed: once every order of the checkout is cancelled or was
    refunded for its failed team, the coupon is usable again, and a campaign coupon's
    amount goes back into its reserve. A checkout with an order still alive keeps its
    coupon used. Idempotent (compare-and-set)."""
    if _orders_alive(Order.objects.filter(payment_id=payment_id)).exists():
        return 0
    coupon = (
        Coupon.objects.select_for_update().filter(payment_id=payment_id, status=Coupon.Status.USED).first()
    )
    if coupon is None:
        return 0
    Coupon.objects.filter(pk=coupon.pk).update(
        status=Coupon.Status.USABLE, payment=None, used_at=None, updated_at=timezone.now()
    )
    if coupon.campaign_id is not None:
        ledger_post(
            key=f"coupon:{coupon.pk}:given-back:{payment_id}",
            kind="coupon_campaign_given_back",
            lines=[(BUDGET, -coupon.amount_fen), (campaign_reserve(coupon.campaign_id), coupon.amount_fen)],
            memo=f"Coupon {coupon.pk} of campaign {coupon.campaign_id} given back (team failed)",
            ref_type="coupon",
            ref_id=coupon.pk,
        )
    return 1


def coupons_give_back_failed_teams(now: datetime) -> int:
    """Sweeper step (after failed teams' refunds): every used coupon whose checkout ended by
    a failed team is given back — re-derived each run, so a give-back missed (a crash
    between the refund and it) happens on the next one."""
    due = (
        Coupon.objects.filter(status=Coupon.Status.USED, payment__orders__team_member__team__status="failed")
        .exclude(Exists(_orders_alive(Order.objects.filter(payment_id=OuterRef("payment_id")))))
        .values_list("payment_id", flat=True)
        .distinct()[:ISSUE_BATCH]
    )
    return sum(coupon_give_back_after_team_failure(payment_id=payment_id) for payment_id in list(due))


@transaction.atomic
def coupon_void(*, coupon_id: int) -> bool:
    """Ops withdraw a usable coupon. A locked or used one stays (its checkout owns it)."""
    return bool(
        Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.USABLE).update(
            status=Coupon.Status.WITHDRAWN, updated_at=timezone.now()
        )
    )


# --- Share rewards ----------------------------------------------------------------------------


def coupon_issue_for_share_reward(*, reward: ShareReward, now: datetime) -> Coupon | None:
    """The owner's coupon for a ``granted`` share reward, in the caller's transaction (or
    its own), and the owner's notice naming it. Returns None if the reward was already
    issued or is void."""
    with transaction.atomic():
        if not share_reward_mark_issued(reward_id=reward.pk):
            return None
        rules = settings.SHOP_RULES
        coupon = Coupon.objects.create(
            user_id=reward.owner_id,
            title="分享奖励券",
            amount_fen=reward.amount_fen,
            min_spend_fen=rules["SHARE_REWARD_COUPON_MIN_SPEND_FEN"],
            valid_from=now,
            expires_at=now + rules["SHARE_REWARD_COUPON_TTL"],
            source=Coupon.Source.SHARE_REWARD,
            source_ref=f"share_reward:{reward.pk}",
        )
        share_reward_notify_issued(reward=reward, coupon_id=coupon.pk)
        return coupon


def coupons_issue_share_rewards(now: datetime) -> int:
    """Sweeper: issue the coupon of every share reward still ``granted``."""
    issued = 0
    for reward in list(share_rewards_granted()[:500]):
        issued += coupon_issue_for_share_reward(reward=reward, now=now) is not None
    return issued


# --- The marketing budget and campaigns (ops, in admin) ---------------------------------------


@transaction.atomic
def marketing_budget_allocate(*, amount_fen: int, note: str = "", actor=None) -> MarketingBudgetAllocation:
    """Ops put ``amount_fen`` of the platform's revenue into the marketing budget."""
    if amount_fen <= 0:
        raise ValueError("an allocation is a positive amount")
    allocation = MarketingBudgetAllocation.objects.create(amount_fen=amount_fen, note=note, created_by=actor)
    ledger_post(
        key=f"marketing_allocation:{allocation.pk}",
        kind="marketing_budget_allocated",
        lines=[(REVENUE, -amount_fen), (BUDGET, amount_fen)],
        memo=note or "Marketing budget allocated",
        ref_type="marketing_allocation",
        ref_id=allocation.pk,
    )
    return allocation


def coupon_campaign_launch(*, campaign_id: int, now: datetime | None = None) -> CouponCampaign:
    """Reserve the campaign's cap from the marketing budget and start issuing; refused
    (nothing written) when the budget holds less than the cap. A store's members are then
    issued their coupons in batches by a task (and by the sweeper, should it fail)."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = CouponCampaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CouponCampaign.Status.DRAFT:
            raise CouponCampaignNotLaunchable(
                "Only a draft campaign can be launched.", campaign_id=campaign_id
            )
        if campaign.ends_at <= now:
            raise CouponCampaignNotLaunchable("The campaign has already ended.", campaign_id=campaign_id)
        try:
            ledger_post(
                key=f"coupon_campaign:{campaign.pk}:reserve",
                kind="coupon_campaign_reserved",
                lines=[(BUDGET, -campaign.cap_fen), (campaign_reserve(campaign.pk), campaign.cap_fen)],
                memo=f"Coupon campaign {campaign.pk} ({campaign.title}) reserved",
                ref_type="coupon_campaign",
                ref_id=campaign.pk,
                floors={BUDGET: 0},
            )
        except InsufficientBalance as exc:
            raise MarketingBudgetShort(campaign_id=campaign_id, cap_fen=campaign.cap_fen) from exc
        campaign.status = CouponCampaign.Status.ACTIVE
        campaign.reserved_fen = campaign.cap_fen
        campaign.launched_at = now
        if campaign.audience == CouponCampaign.Audience.STORE_MEMBERS:
            campaign.target_count = min(
                Membership.objects.filter(store_id=campaign.store_id).count(), campaign.max_coupons
            )
        campaign.save(update_fields=["status", "reserved_fen", "launched_at", "target_count", "updated_at"])
        if campaign.audience == CouponCampaign.Audience.STORE_MEMBERS:
            transaction.on_commit(lambda: coupon_campaign_issue_task.delay(campaign.pk))
    return campaign


def _recipients(campaign: CouponCampaign, now: datetime):
    """Ids of the people this campaign issues to, as of now (codes are redeemed instead)."""
    if campaign.audience == CouponCampaign.Audience.STORE_MEMBERS:
        return Membership.objects.filter(store_id=campaign.store_id).values_list("user_id", flat=True)
    if campaign.audience == CouponCampaign.Audience.NEW_MEMBERS:
        end = min(now, campaign.ends_at)
        return (
            get_user_model()
            .objects.filter(date_joined__gte=campaign.starts_at, date_joined__lt=end, is_active=True)
            .values_list("pk", flat=True)
        )
    return None


def _coupon_for(campaign: CouponCampaign, user_id: int, now: datetime) -> Coupon:
    return Coupon(
        user_id=user_id,
        title=campaign.title,
        amount_fen=campaign.amount_fen,
        min_spend_fen=campaign.min_spend_fen,
        valid_from=now,
        expires_at=now + timedelta(days=campaign.valid_days),
        source=Coupon.Source.CAMPAIGN,
        source_ref=f"campaign:{campaign.pk}:{user_id}",
        campaign=campaign,
    )


def coupon_campaign_issue_batch(
    *, campaign_id: int, now: datetime | None = None, limit: int = ISSUE_BATCH
) -> int:
    """Issue one batch of a running campaign's coupons to those who have none yet, under
    the campaign's row lock (so concurrent batches cannot pass the cap or issue twice).
    Returns how many were issued; 0 when there is nothing left to do."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = CouponCampaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CouponCampaign.Status.ACTIVE or not (
            campaign.starts_at <= now < campaign.ends_at
        ):
            return 0
        recipients = _recipients(campaign, now)
        room = campaign.max_coupons - campaign.issued_count
        if recipients is None or room <= 0:
            return 0
        have = Coupon.objects.filter(campaign_id=campaign.pk).values("user_id")
        user_ids = list(
            get_user_model()
            .objects.filter(pk__in=recipients)
            .exclude(pk__in=have)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(limit, room)]
        )
        if not user_ids:
            return 0
        Coupon.objects.bulk_create([_coupon_for(campaign, user_id, now) for user_id in user_ids])
        CouponCampaign.objects.filter(pk=campaign.pk).update(
            issued_count=F("issued_count") + len(user_ids), updated_at=now
        )
        return len(user_ids)


def coupon_campaign_issue_all(*, campaign_id: int, now: datetime | None = None) -> int:
    """Every batch of a campaign, one short transaction each (the launch task)."""
    total = 0
    while issued := coupon_campaign_issue_batch(campaign_id=campaign_id, now=now):
        total += issued
    return total


def coupon_redeem(*, user, code: str, now: datetime | None = None) -> Coupon:
    """The shopper's coupon of the running campaign with this code: once per person, while
    the cap lasts (404 unknown code, 409 redeemed already or none left)."""
    now = now or timezone.now()
    campaign = CouponCampaign.objects.filter(
        code=code.strip().upper(),
        audience=CouponCampaign.Audience.CODE,
        status=CouponCampaign.Status.ACTIVE,
        starts_at__lte=now,
        ends_at__gt=now,
    ).first()
    if campaign is None:
        raise CouponCodeNotFound()
    if Coupon.objects.filter(source_ref=f"campaign:{campaign.pk}:{user.pk}").exists():
        raise CouponCodeAlreadyRedeemed()
    try:
        with transaction.atomic():
            taken = CouponCampaign.objects.filter(
                pk=campaign.pk,
                status=CouponCampaign.Status.ACTIVE,
                issued_count__lt=F("cap_fen") / F("amount_fen"),
            ).update(issued_count=F("issued_count") + 1, updated_at=now)
            if not taken:
                raise CouponCampaignExhausted()
            coupon = _coupon_for(campaign, user.pk, now)
            coupon.save(force_insert=True)
    except IntegrityError as exc:  # the same person's concurrent redeem won
        raise CouponCodeAlreadyRedeemed() from exc
    return coupon


# A checkout reads its clock when the request starts and locks the coupon (``coupon_use``)
# a few milliseconds later, judging expiry by that earlier moment. A release running in
# between, a little past the expiry, would give back the reserve of a coupon that is then
# locked and paid: the reserve would be short. Releases so wait out this margin after a
# coupon's expiry, far longer than any checkout's transaction lasts.
EXPIRY_GRACE = timedelta(minutes=5)


def _outstanding_fen(campaign_id: int, now: datetime) -> tuple[int, int]:
    """(used, still promised): the amounts of the campaign's coupons paid for, and of those
    still locked or usable before their expiry (plus ``EXPIRY_GRACE``)."""
    coupons = Coupon.objects.filter(campaign_id=campaign_id)
    sums = coupons.aggregate(
        used=Sum("amount_fen", filter=Q(status=Coupon.Status.USED), default=0),
        promised=Sum("amount_fen", filter=_promised_q(now), default=0),
    )
    return sums["used"], sums["promised"]


def _promised_q(now: datetime) -> Q:
    """Coupons still promised: locked by a checkout, or usable until their expiry (+ grace)."""
    return Q(status=Coupon.Status.LOCKED) | Q(status=Coupon.Status.USABLE, expires_at__gt=now - EXPIRY_GRACE)


def _kept_q(now: datetime) -> Q:
    """Coupons whose reserve a release must keep: paid ones, and those still promised."""
    return Q(status=Coupon.Status.USED) | _promised_q(now)


def coupon_campaign_close(*, campaign_id: int, now: datetime | None = None) -> bool:
    """Stop issuing (ops, or the sweeper at ``ends_at``) and return what is not promised."""
    now = now or timezone.now()
    closed = CouponCampaign.objects.filter(
        pk=campaign_id, status__in=(CouponCampaign.Status.DRAFT, CouponCampaign.Status.ACTIVE)
    ).update(status=CouponCampaign.Status.CLOSED, closed_at=now, updated_at=now)
    if closed:
        coupon_campaign_release(campaign_id=campaign_id, now=now)
    return bool(closed)


@transaction.atomic
def coupon_campaign_release(*, campaign_id: int, now: datetime | None = None) -> int:
    """A closed campaign's reserve beyond its used and still-promised coupons goes back to
    the marketing budget. Returns the fen released (0 when there is nothing to return)."""
    now = now or timezone.now()
    campaign = CouponCampaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.status != CouponCampaign.Status.CLOSED:
        return 0
    used, promised = _outstanding_fen(campaign.pk, now)
    free = campaign.reserved_fen - campaign.released_fen - used - promised
    if free <= 0:
        return 0
    released = campaign.released_fen + free
    ledger_post(
        key=f"coupon_campaign:{campaign.pk}:release:{released}",
        kind="coupon_campaign_released",
        lines=[(campaign_reserve(campaign.pk), -free), (BUDGET, free)],
        memo=f"Coupon campaign {campaign.pk}: unused reserve returned",
        ref_type="coupon_campaign",
        ref_id=campaign.pk,
    )
    CouponCampaign.objects.filter(pk=campaign.pk).update(released_fen=released, updated_at=now)
    return free


def coupon_campaigns_sweep(now: datetime) -> int:
    """Sweeper: close campaigns past their end, issue a batch of each running one (new
    sign-ups, a store's members the launch task missed), return what closed ones no longer
    promise. Everything re-derived from the database; safe to run at any time."""
    done = 0
    for pk in list(
        CouponCampaign.objects.filter(status=CouponCampaign.Status.ACTIVE, ends_at__lte=now).values_list(
            "pk", flat=True
        )[:100]
    ):
        done += coupon_campaign_close(campaign_id=pk, now=now)
    running = CouponCampaign.objects.filter(status=CouponCampaign.Status.ACTIVE, starts_at__lte=now).exclude(
        audience=CouponCampaign.Audience.CODE
    )
    for pk in list(running.values_list("pk", flat=True)[:100]):
        done += coupon_campaign_issue_batch(campaign_id=pk, now=now)
    # Closed campaigns with something to give back now: the reserve beyond what was released,
    # what its paid coupons spent (never coming back) and what its live coupons still promise
    # (``_outstanding_fen``'s rule). Without the last two, the first 100 closed campaigns
    # with a paid or a long-lived coupon would be picked on every run, and none after them.
    kept = (
        Coupon.objects.filter(campaign=OuterRef("pk"))
        .filter(_kept_q(now))
        .values("campaign")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    closed = (
        CouponCampaign.objects.filter(status=CouponCampaign.Status.CLOSED)
        .annotate(kept=Coalesce(Subquery(kept), 0))
        .filter(reserved_fen__gt=F("released_fen") + F("kept"))
    )
    for pk in list(closed.order_by("pk").values_list("pk", flat=True)[:100]):
        done += bool(coupon_campaign_release(campaign_id=pk, now=now))
    return done
