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


class SubscribeGrant(BaseModel):
    """How many WeChat subscribe messages (订阅消息) of one template we may still send one user.

    WeChat's one-time subscriptions: every time the user taps "allow" in
    ``wx.requestSubscribeMessage`` for a template, one message of it may be sent. The
    mini-program reports each answer (``POST /me/subscriptions``); an accept adds one here,
    a send takes one (a conditional ``UPDATE … WHERE remaining_count > 0``, so two workers
    never spend the same one), and WeChat's ``43101`` (the user has none left) sets it to 0.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    template_id = models.CharField(max_length=64)
    remaining_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "template_id"], name="subscribegrant_one_per_template"),
            models.CheckConstraint(
                condition=models.Q(remaining_count__gte=0), name="subscribegrant_count_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} × {self.remaining_count} → {self.user_id}"


class SubscribeMessage(BaseModel):
    """One subscribe message to send for one notification, with its attempt state.

    ``key`` (the notification's dedupe key and the template) is unique: an event notified
    twice makes one row. A worker claims an attempt with one conditional UPDATE (pending,
    due) that moves ``next_attempt_at`` past the request's timeout, so a task run twice
    sends once, and a worker that dies mid-request leaves a row the sweeper retries.
    ``is_grant_taken`` says this message has spent one of the user's subscriptions (once,
    whatever the number of attempts).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Not sent: no subscription left (or no openid)"
        REFUSED = "refused", "Refused by WeChat: the user has no subscription (43101)"
        FAILED = "failed", "Failed (gave up, or WeChat refused the message)"

    key = models.CharField(max_length=300, unique=True)
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="subscribe_messages"
    )
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    template_id = models.CharField(max_length=64)
    page = models.CharField(max_length=200, blank=True)
    data = models.JSONField(help_text="WeChat's data: {key: {value}}.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    is_grant_taken = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)
    wechat_msgid = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="subscribemessage_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id} ({self.status})"


class SandboxSubscribeSend(models.Model):
    """What the sandbox sender would have POSTed to WeChat: one row per call, so a message
    sent twice shows as two rows (the end-to-end test counts them)."""

    message = models.ForeignKey(SubscribeMessage, on_delete=models.CASCADE, related_name="sandbox_sends")
    touser = models.CharField(max_length=128)
    template_id = models.CharField(max_length=64)
    page = models.CharField(max_length=200, blank=True)
    data = models.JSONField()
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.template_id} → {self.touser}"
