from __future__ import annotations

from django.conf import settings
from django.db import models

from shop.models import BaseModel


class Notification(BaseModel):
    """An in-app message to one user (a merchant's staff member, a leader, a shopper)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "-id"], name="notification_recipient_idx")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"
