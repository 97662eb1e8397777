from __future__ import annotations

from django.db.models import QuerySet

from .errors import WebhookNotFound
from .models import Notification, WebhookEndpoint


def notification_list_for_user(*, user, unread: bool | None = None) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(recipient=user).order_by("-id")
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications


def webhook_list_for_owner(*, owner) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=owner).order_by("-id")


def webhook_get_for_owner(*, endpoint_id: int, owner) -> WebhookEndpoint:
    """One of the owner's endpoints; anyone else's is reported as not found."""
    endpoint = webhook_list_for_owner(owner=owner).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint
