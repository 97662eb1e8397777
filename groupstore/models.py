"""Group stores: who owns them, who belongs, share links, and the running aggregates
the owner dashboard reads (pushed by orders and rebates, never computed by scanning)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Store(BaseModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_stores")
    name = models.CharField(max_length=60)
    # WeChat's openGId of the chat group this store is bound to: at most one store per group.
    wechat_group_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    is_frozen = models.BooleanField(default=False, help_text="No new joins, no new orders, no commission.")
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_reason = models.CharField(max_length=200, blank=True)
    is_venue = models.BooleanField(default=False, help_text="A certified leader's sale venue.")

    def __str__(self) -> str:
        return self.name


class ShareLink(BaseModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        "products.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_revoked = models.BooleanField(default=False)
    # The short id a poster's mini-program code carries (WeChat's ``scene``: 32 characters at
    # most), given the first time a poster is drawn; GET /share-scenes/{scene} resolves it.
    scene = models.CharField(max_length=16, unique=True, null=True, blank=True)

    def __str__(self) -> str:
        return f"link to {self.store_id}"


class Membership(BaseModel):
    """A user in a store, with the member's running figures (what the owner sees)."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField()
    joined_via = models.ForeignKey(
        ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    orders_count = models.IntegerField(default=0)
    paid_fen = models.BigIntegerField(default=0, help_text="Net paid through this store (refunds taken off).")
    discount_fen = models.BigIntegerField(default=0, help_text="List price minus paid price.")
    rebate_fen = models.BigIntegerField(default=0, help_text="Rebates settled to this member.")
    envelope_fen = models.BigIntegerField(default=0, help_text="Red envelopes claimed.")
    saved_fen = models.BigIntegerField(
        default=0, help_text="discount + rebates + envelopes (kept for sorting)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "user"], name="membership_unique_per_store")]
        indexes = [
            models.Index(fields=["store", "-saved_fen", "-id"], name="membership_store_saved_idx"),
            models.Index(fields=["store", "-paid_fen", "-id"], name="membership_store_paid_idx"),
            models.Index(fields=["store", "-joined_at", "-id"], name="membership_store_joined_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.store_id}"


class StoreStats(models.Model):
    """One row per store, updated with F() in the same transaction as the money change."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, primary_key=True, related_name="stats")
    members_count = models.IntegerField(default=0)
    orders_count = models.IntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0, help_text="Paid amount of orders placed through the store.")
    net_paid_fen = models.BigIntegerField(
        default=0, help_text="GMV minus refunds: drives the flash-price unlock."
    )
    commission_pending_fen = models.BigIntegerField(default=0)
    commission_settled_fen = models.BigIntegerField(default=0)
    commission_clawed_back_fen = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "store stats"
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_pending_fen__gte=0), name="storestats_pending_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"stats of {self.store_id}"


class InvitationCode(BaseModel):
    """A code ops hand out so a shopper can register as a leader; single or multi-use.

    ``used_count`` only grows through one conditional UPDATE (``used_count < max_uses``
    and not expired), so concurrent registrations can never use a code more than
    ``max_uses`` times; the check constraint is the backstop.
    """

    code = models.CharField(max_length=32, unique=True)
    batch = models.CharField(max_length=60, blank=True, help_text="Ops' label for the batch it came in.")
    max_uses = models.PositiveIntegerField(default=1)
    used_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="invitationcode_max_uses_gte_1"),
            models.CheckConstraint(
                condition=Q(used_count__lte=models.F("max_uses")), name="invitationcode_used_lte_max"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Leader(BaseModel):
    """A Goose Share Group leader: registered with an invitation code, certified by ops.

    A certified leader's stores are sale venues (``Store.is_venue``)."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Awaiting certification"
        CERTIFIED = "certified", "Certified"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.APPLIED: frozenset({Status.CERTIFIED, Status.REJECTED}),
        # Ops may withdraw a certification; a rejected shopper may apply again with a fresh code.
        Status.CERTIFIED: frozenset({Status.REJECTED}),
        Status.REJECTED: frozenset({Status.APPLIED}),
    }

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leader")
    invitation_code = models.ForeignKey(InvitationCode, on_delete=models.PROTECT, related_name="leaders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPLIED)
    certified_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rejection_reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"leader {self.user_id} ({self.status})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class VenueSelection(models.Model):
    """One product a leader put in the store's sale venue (the curated selection)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="venue_selection")
    product = models.ForeignKey("products.Product", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product"], name="venueselection_unique_product"),
        ]
        indexes = [models.Index(fields=["store", "position"], name="venueselection_store_pos_idx")]

    def __str__(self) -> str:
        return f"product {self.product_id} in venue {self.store_id}"


class ShareReward(models.Model):
    """The owner's share reward (docs/design.md): an entitlement to a coupon of ``amount_fen``.

    At most one per store (unique ``store``), at most one per qualifying buyer ever
    (unique ``member``: one throwaway account cannot earn rewards in store after store),
    and at most ``SHARE_REWARD_DAILY_CAP`` per owner a day (unique owner/day/slot, with
    slots 1..cap handed out by the service). Turning it into a coupon at checkout is the
    orders app's job; it marks the reward ``issued`` when it does.
    """

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted, coupon not issued yet"
        ISSUED = "issued", "Coupon issued"
        VOID = "void", "Void"

    store = models.OneToOneField(Store, on_delete=models.PROTECT, related_name="share_reward")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_rewards"
    )
    member = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="share_reward_earned_for",
        help_text="The new member whose first qualifying order earned the reward.",
    )
    order_id = models.BigIntegerField(unique=True, help_text="The qualifying order (orders app).")
    order_paid_fen = models.BigIntegerField()
    amount_fen = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GRANTED)
    granted_at = models.DateTimeField()
    granted_on = models.DateField(help_text="Local (Asia/Shanghai) date, for the daily cap.")
    daily_slot = models.PositiveSmallIntegerField(help_text="1..cap: the nth reward of the owner that day.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "granted_on", "daily_slot"], name="sharereward_owner_daily_slot"
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="sharereward_amount_gt_0"),
            models.CheckConstraint(condition=Q(daily_slot__gte=1), name="sharereward_slot_gte_1"),
        ]

    def __str__(self) -> str:
        return f"share reward of store {self.store_id}"


class PickupPoint(BaseModel):
    """A certified leader's pickup point (community group buying): members of the leader's
    venues may have parcels shipped here and collect them with a code. One per leader;
    closing it (``is_open`` false) stops new pickup orders, parcels already on their way
    are still handed out. The contact is for carriers, never shown to buyers."""

    leader = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pickup_point"
    )
    name = models.CharField(max_length=60)
    region = models.CharField(max_length=100)
    address = models.CharField(max_length=200)
    opening_hours = models.CharField(max_length=100)
    contact_name = models.CharField(max_length=40, help_text="For carriers: who takes the parcels.")
    contact_phone = models.CharField(max_length=20, help_text="For carriers only; buyers never see it.")
    is_open = models.BooleanField(default=True, help_text="Closed: no new pickup orders.")
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
