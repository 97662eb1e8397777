"""The seller side: merchants, their staff."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from shop.models import BaseModel


class Merchant(BaseModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED}),
        Status.APPROVED: frozenset({Status.SUSPENDED}),
        Status.SUSPENDED: frozenset({Status.APPROVED}),
        Status.REJECTED: frozenset({Status.PENDING}),
    }

    company_name = models.CharField(max_length=120)
    licence_no = models.CharField(max_length=64, help_text="Business licence (unified social credit code).")
    contact_phone = models.CharField(max_length=32)
    categories = models.ManyToManyField("products.Category", related_name="merchants", blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return self.company_name

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())


class MerchantStaff(BaseModel):
    """A user who acts for a merchant. A user works for at most one merchant."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        STAFF = "staff", "Staff"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_staff"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)

    class Meta:
        verbose_name_plural = "merchant staff"

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant}"
