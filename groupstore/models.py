"""Group stores: who owns them, who belongs, share links, and the running aggregates
the owner dashboard reads (pushed by orders and rebates, never computed by scanning)."""

from __future__ import annotations

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
    code = models.CharField(max_length=32, unique=True)
    max_uses = models.PositiveIntegerField(default=1)
    used_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code


class Leader(BaseModel):
    """A Goose Share Group leader: registered with an invitation code, certified by ops."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Awaiting certification"
        CERTIFIED = "certified", "Certified"
        REJECTED = "rejected", "Rejected"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leader")
    invitation_code = models.ForeignKey(InvitationCode, on_delete=models.PROTECT, related_name="leaders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPLIED)
    certified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"leader {self.user_id} ({self.status})"
