"""Flash sales (秒杀): an offer per SKU with a window, a cap and a per-buyer limit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from shop.models import BaseModel


class FlashOffer(BaseModel):
    """While ``starts_at <= now < ends_at``, the SKU sells at ``flash_price_fen`` in stores
    that unlocked flash prices — at most ``quantity`` units in all and ``per_user_limit``
    units per buyer. ``sold_count`` (units held by orders not cancelled) is the truth,
    moved only by conditional updates; the check constraint is the backstop."""

    sku = models.ForeignKey("products.Sku", on_delete=models.PROTECT, related_name="flash_offers")
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
        indexes = [models.Index(fields=["sku", "ends_at"], name="flash_sku_ends_idx")]

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
