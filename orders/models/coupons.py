"""Platform coupons, funded by the marketing budget (the checkout splits them over orders)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Coupon(BaseModel):
    """``amount_fen`` off one checkout of at least ``min_spend_fen`` (sale amount, after
    team/flash prices), for its owner only, before ``expires_at``. Used when the checkout
    is created (``payment`` records which); given back if that checkout is cancelled or
    times out unpaid. ``source_ref`` is unique so a retried issue creates no second coupon."""

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        USED = "used", "Used"
        VOID = "void", "Void (withdrawn by ops)"

    class Source(models.TextChoices):
        SHARE_REWARD = "share_reward", "Share reward"
        OPS = "ops", "Issued by ops"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coupons")
    amount_fen = models.BigIntegerField()
    min_spend_fen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE, db_index=True)
    expires_at = models.DateTimeField()
    source = models.CharField(max_length=20, choices=Source.choices)
    source_ref = models.CharField(max_length=64, unique=True, help_text="e.g. share_reward:12")
    payment = models.ForeignKey(
        "payments.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
        help_text="The checkout that used it.",
    )
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="coupon_amount_gt_0"),
            models.CheckConstraint(condition=Q(min_spend_fen__gte=0), name="coupon_min_spend_gte_0"),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(payment__isnull=False), name="coupon_used_has_payment"
            ),
        ]
        indexes = [models.Index(fields=["user", "status", "expires_at"], name="coupon_user_status_idx")]

    def __str__(self) -> str:
        return f"Coupon {self.pk} ({self.amount_fen} fen, {self.status})"
