"""Commission and rebate accruals: created pending at payment, settled at completion."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel


class Accrual(BaseModel):
    """One share of one order item's commission, for one beneficiary.

    ``amount_fen`` is what was accrued; refunds before settlement raise
    ``cancelled_fen``; refunds after settlement raise ``clawed_back_fen``.
    """

    class Kind(models.TextChoices):
        MEMBER_REBATE = "member_rebate", "Member rebate"
        OWNER_COMMISSION = "owner_commission", "Owner commission"
        PLATFORM = "platform", "Platform remainder"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SETTLED = "settled", "Settled"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="accruals")
    order_item = models.ForeignKey("orders.OrderItem", on_delete=models.PROTECT, related_name="accruals")
    store = models.ForeignKey("groupstore.Store", on_delete=models.PROTECT, related_name="accruals")
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="accruals"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    amount_fen = models.BigIntegerField()
    cancelled_fen = models.BigIntegerField(default=0)
    clawed_back_fen = models.BigIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_item", "kind"], name="accrual_once_per_item_kind"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="accrual_amount_fen_gte_0"),
            models.CheckConstraint(
                condition=Q(cancelled_fen__gte=0) & Q(cancelled_fen__lte=models.F("amount_fen")),
                name="accrual_cancelled_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(kind="platform") | Q(beneficiary__isnull=False),
                name="accrual_person_has_beneficiary",
            ),
        ]
        indexes = [models.Index(fields=["order", "status"], name="accrual_order_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen} fen on order {self.order_id}"
