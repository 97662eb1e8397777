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


class WebhookEndpoint(BaseModel):
    """A URL a leader or a merchant's staff member wants events POSTed to, signed with ``secret``.

    The URL must be https; where it points is checked again at every delivery (DNS can
    change), and deliveries to loopback, private, link-local … addresses are refused.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=100, blank=True)
    secret = models.CharField(max_length=64, help_text="HMAC-SHA256 key; shown to its owner once.")
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "is_active"], name="webhook_owner_active_idx")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(BaseModel):
    """One event to POST to one endpoint, with its retry state.

    ``pending`` rows are due at ``next_attempt_at``; an attempt claims the row by moving
    ``next_attempt_at`` past the request's timeout in one conditional UPDATE, so two
    workers never send the same attempt, and a worker that dies mid-request leaves a row
    the sweeper retries later.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed (gave up or refused)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "notification"], name="webhookdelivery_once_per_notification"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
