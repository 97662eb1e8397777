"""Platform coupons, funded by the marketing budget (the checkout splits them over orders),
and the ops campaigns that issue them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from shop.models import BaseModel


class MarketingBudgetAllocation(BaseModel):
    """Ops put part of the platform's revenue into the marketing budget (a ledger transfer
    ``platform_revenue`` → ``marketing_budget``, posted when the row is written). Coupon
    campaigns reserve their cap from what the budget holds and are refused when it is short."""

    amount_fen = models.BigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="budget_allocation_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"Marketing budget allocation {self.pk}: +{self.amount_fen} fen"


class CouponCampaign(BaseModel):
    """Ops issue coupons: to people who sign up while it runs (``new_members``), to the
    members of one store (``store_members``), or to whoever redeems its ``code``.

    Launching reserves ``cap_fen`` from the marketing budget into the campaign's own
    ledger account (``coupon_campaign``/<id>), refused when the budget is short; at most
    ``cap_fen // amount_fen`` coupons are ever issued (``issued_count``, a conditional
    UPDATE). A coupon paid for moves its amount from the reserve back to the budget, which
    pays it (as it pays every coupon); a coupon given back after a failed team moves it back.
    Closing the campaign (by ops, or when ``ends_at`` passes) stops issuing; what its
    reserve holds beyond the coupons still usable or locked then returns to the budget
    (``released_fen``), at once and again as those coupons expire.
    """

    class Audience(models.TextChoices):
        NEW_MEMBERS = "new_members", "People who sign up while it runs"
        STORE_MEMBERS = "store_members", "Members of one store"
        CODE = "code", "Whoever redeems its code"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not launched)"
        ACTIVE = "active", "Issuing"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=60, help_text="Shown to shoppers on the coupon.")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    store = models.ForeignKey(
        "groupstore.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_campaigns",
        help_text="Only for a store's members.",
    )
    code = models.CharField(
        max_length=32, null=True, blank=True, unique=True, help_text="Only for a code (case-insensitive)."
    )
    amount_fen = models.BigIntegerField(help_text="Money off, in fen.")
    min_spend_fen = models.BigIntegerField(default=0, help_text="Minimum spend, in fen.")
    valid_days = models.PositiveIntegerField(default=30, help_text="Each coupon is valid this many days.")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(help_text="No coupon is issued after this.")
    cap_fen = models.BigIntegerField(help_text="Reserved from the marketing budget at launch, in fen.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    issued_count = models.PositiveIntegerField(default=0)
    target_count = models.PositiveIntegerField(
        default=0, help_text="A store's members at launch (progress of the issue)."
    )
    reserved_fen = models.BigIntegerField(default=0, help_text="Taken from the marketing budget at launch.")
    released_fen = models.BigIntegerField(default=0, help_text="Given back to the marketing budget.")
    launched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="coupon_campaign_amount_gt_0"),
            models.CheckConstraint(condition=Q(min_spend_fen__gte=0), name="coupon_campaign_min_spend_gte_0"),
            models.CheckConstraint(
                condition=Q(cap_fen__gte=F("amount_fen")), name="coupon_campaign_cap_covers_one"
            ),
            models.CheckConstraint(
                condition=Q(issued_count__lte=F("cap_fen") / F("amount_fen")),
                name="coupon_campaign_issued_within_cap",
            ),
            models.CheckConstraint(
                condition=Q(released_fen__gte=0) & Q(released_fen__lte=F("reserved_fen")),
                name="coupon_campaign_released_within_reserved",
            ),
            models.CheckConstraint(
                condition=~Q(audience="store_members") | Q(store__isnull=False),
                name="coupon_campaign_store_members_has_store",
            ),
            models.CheckConstraint(
                condition=~Q(audience="code") | Q(code__isnull=False), name="coupon_campaign_code_has_code"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def max_coupons(self) -> int:
        return self.cap_fen // self.amount_fen


class Coupon(BaseModel):
    """``amount_fen`` off one checkout of at least ``min_spend_fen`` (sale amount, after
    team/flash prices), for its owner only, from ``valid_from`` until ``expires_at``.

    ``usable`` → ``locked`` when a checkout takes it (``payment`` records which), →
    ``used`` when that checkout is paid; a locked coupon goes back to ``usable`` when its
    checkout is cancelled or times out, a used one when every order of its checkout was
    cancelled or refunded by a failed team (never for an after-sales refund). Ops may
    withdraw a usable one (``withdrawn``). Shoppers see a usable coupon past its
    ``expires_at``, and a withdrawn one, as ``expired``. ``source_ref`` is unique so a
    retried issue creates no second coupon. (Before 2026-12 the stored values were
    ``available``/``void`` and source ``ops``; migration 0007 renamed them.)"""

    class Status(models.TextChoices):
        USABLE = "usable", "Usable"
        LOCKED = "locked", "Locked by an unpaid order"
        USED = "used", "Used"
        WITHDRAWN = "withdrawn", "Withdrawn by ops"

    class Source(models.TextChoices):
        SHARE_REWARD = "share_reward", "Share reward"
        CAMPAIGN = "campaign", "Campaign"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coupons")
    title = models.CharField(max_length=60, blank=True)
    amount_fen = models.BigIntegerField()
    min_spend_fen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.USABLE, db_index=True)
    valid_from = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    source = models.CharField(max_length=20, choices=Source.choices)
    source_ref = models.CharField(max_length=64, unique=True, help_text="e.g. share_reward:12")
    campaign = models.ForeignKey(
        CouponCampaign, on_delete=models.PROTECT, null=True, blank=True, related_name="coupons"
    )
    payment = models.ForeignKey(
        "payments.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
        help_text="The checkout that locked or used it.",
    )
    used_at = models.DateTimeField(null=True, blank=True, help_text="When its checkout locked it.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="coupon_amount_gt_0"),
            models.CheckConstraint(condition=Q(min_spend_fen__gte=0), name="coupon_min_spend_gte_0"),
            models.CheckConstraint(
                condition=~Q(status__in=["used", "locked"]) | Q(payment__isnull=False),
                name="coupon_taken_has_payment",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status", "expires_at"], name="coupon_user_status_idx"),
            models.Index(fields=["campaign", "status"], name="coupon_campaign_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Coupon {self.pk} ({self.amount_fen} fen, {self.status})"
