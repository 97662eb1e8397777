"""Flash sales (秒杀): an offer per SKU with a window, a cap and a per-buyer limit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from shop.models import BaseModel


class FlashOffer(BaseModel):
    """While ``starts_at <= now < ends_at``, an approved offer sells the SKU at
    ``flash_price_fen`` in stores that unlocked flash prices — at most ``quantity`` units in
    all and ``per_user_limit`` units per buyer. ``sold_count`` (units held by orders not
    cancelled) is the truth, moved only by conditional updates; the check constraint is the
    backstop.

    A merchant proposes an offer (``pending_review``); ops approve or reject it in admin with
    a reason. Only ``approved`` offers are ever live: checkout's one read and the product
    page both filter on it. An offer ops create in admin is approved by creating it."""

    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    sku = models.ForeignKey("products.Sku", on_delete=models.PROTECT, related_name="flash_offers")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_REVIEW)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The merchant's staff member who proposed it (empty: created by ops).",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    flash_price_fen = models.BigIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    quantity = models.PositiveIntegerField(help_text="Units on offer at the flash price, in all.")
    per_user_limit = models.PositiveIntegerField(default=1, help_text="Units one buyer may get.")
    sold_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sold_count__lte=F("quantity")), name="flash_sold_lte_quantity"
            ),
            models.CheckConstraint(condition=Q(flash_price_fen__gt=0), name="flash_price_gt_0"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="flash_ends_after_start"),
            models.CheckConstraint(condition=Q(per_user_limit__gte=1), name="flash_per_user_limit_gte_1"),
        ]
        indexes = [
            models.Index(fields=["sku", "ends_at"], name="flash_sku_ends_idx"),
            models.Index(fields=["status", "ends_at"], name="flash_status_ends_idx"),
        ]

    def __str__(self) -> str:
        return f"Flash {self.pk} on SKU {self.sku_id} ({self.sold_count}/{self.quantity})"

    @property
    def remaining(self) -> int:
        return max(0, self.quantity - self.sold_count)


class FlashBuyerCount(models.Model):
    """Units of an offer one buyer holds (orders not cancelled); never above the offer's
    per-user limit — the conditional update in ``flash_take`` decides it."""

    offer = models.ForeignKey(FlashOffer, on_delete=models.CASCADE, related_name="buyer_counts")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    units = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "buyer"], name="flashbuyer_unique")]

    def __str__(self) -> str:
        return f"{self.buyer_id}: {self.units} of flash {self.offer_id}"
