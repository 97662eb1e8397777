from __future__ import annotations

from django.db.models import QuerySet

from .models import Notification, WebhookEndpoint


def notification_list_for_user(*, user, unread: bool | None = None) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(recipient=user).order_by("-id")
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications


def webhook_list_for_owner(*, owner) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=owner).order_by("-id")
