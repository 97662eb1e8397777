"""In-app notifications and signed webhooks (docs/design.md "Notifications").

``notification_send`` writes the in-app row and, for each active webhook of the
recipient, a delivery row in the same transaction — and, for the kinds that have a
WeChat template, a subscribe message (``subscribe.py``); the deliveries and messages
are handed to Celery once it commits. A delivery is attempted by ``webhook_delivery_attempt``:
at most one worker per attempt, a bounded number of attempts with exponential
backoff, and never a request to a URL that is not https to a public address.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from functools import partial

import urllib3
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import webhooks
from .errors import (
    NotificationNotFound,
    TooManyWebhooks,
    WebhookNotFound,
    WebhooksNotAllowed,
    WebhookUrlRefused,
)
from .models import Notification, WebhookDelivery, WebhookEndpoint
from .registry import user_may_own_webhooks
from .subscribe import subscribe_message_enqueue

logger = logging.getLogger("shop.notifications")

MAX_ACTIVE_WEBHOOKS_PER_USER = 5
LAST_ERROR_CHARS = 300
SHORT_RETRY = timedelta(minutes=5)


def notification_send(
    *,
    recipient_id: int,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Create an in-app notification and queue it to the recipient's webhooks and, when
    its kind has a WeChat template and the recipient a subscription left, as a subscribe
    message (``subscribe.subscribe_message_enqueue``; sent after commit).

    With ``dedupe_key``, sending twice (a retried task, a replayed callback) creates one
    notification and one delivery per webhook. Whatever ``data`` holds reaches the
    recipient's webhook: callers decide what a recipient may see (a leader never a
    member's phone or address).
    """
    fields = {"recipient_id": recipient_id, "kind": kind, "title": title, "body": body, "data": data or {}}
    with transaction.atomic():
        if dedupe_key:
            notification, created = Notification.objects.get_or_create(dedupe_key=dedupe_key, defaults=fields)
            if not created:
                return notification
        else:
            notification = Notification.objects.create(**fields)
        _deliveries_enqueue(notification)
        subscribe_message_enqueue(notification)
    return notification


def _deliveries_enqueue(notification: Notification) -> list[WebhookDelivery]:
    endpoints = list(
        WebhookEndpoint.objects.filter(owner_id=notification.recipient_id, is_active=True).order_by("pk")
    )
    if not endpoints:
        return []
    now = timezone.now()
    payload = {
        "id": f"ntf_{notification.pk}",  # stable across retries: receivers dedupe on it
        "event": notification.kind,
        "created_at": notification.created_at,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
    }
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                notification=notification,
                event=notification.kind,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )
    from .tasks import webhook_deliver_task

    for delivery in deliveries:
        transaction.on_commit(partial(webhook_deliver_task.delay, delivery.pk))
    return deliveries


def notification_mark_read(*, notification_id: int, user, now: datetime | None = None) -> Notification:
    """Mark one of the user's own notifications read (someone else's is not found).
    Marking it again keeps the first ``read_at``."""
    now = now or timezone.now()
    Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True).update(
        read_at=now, updated_at=now
    )
    notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
    if notification is None:
        raise NotificationNotFound()
    return notification


# --- Webhook endpoints ----------------------------------------------------------


def webhook_endpoint_create(*, owner, url: str, description: str = "") -> WebhookEndpoint:
    """Register a URL for the owner's events. Only users a registered check admits
    (certified leaders, merchants' staff); https to a public host only; a few per user."""
    if not user_may_own_webhooks(owner):
        raise WebhooksNotAllowed()
    try:
        webhooks.webhook_url_check(url)
    except webhooks.WebhookTargetRefused as exc:
        raise WebhookUrlRefused(fields={"url": [str(exc)]}) from exc
    with transaction.atomic():
        # Lock the owner's endpoints so two concurrent registrations cannot pass the cap.
        active = list(
            WebhookEndpoint.objects.select_for_update()
            .filter(owner=owner, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if len(active) >= MAX_ACTIVE_WEBHOOKS_PER_USER:
            raise TooManyWebhooks()
        return WebhookEndpoint.objects.create(
            owner=owner, url=url, description=description, secret=f"whsec_{secrets.token_urlsafe(32)}"
        )


def webhook_endpoint_deactivate(*, endpoint_id: int, owner) -> WebhookEndpoint:
    """Stop sending to one of the owner's endpoints; pending deliveries are dropped."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, owner=owner).first()
        if endpoint is None:
            raise WebhookNotFound()
        if endpoint.is_active:
            endpoint.is_active = False
            endpoint.save(update_fields=["is_active", "updated_at"])
            WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
                status=WebhookDelivery.Status.FAILED,
                last_error="endpoint deactivated",
                updated_at=timezone.now(),
            )
    return endpoint


# --- Delivery ---------------------------------------------------------------------


def webhook_retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff after the ``attempts``-th failed attempt: base × 2^(n−1), capped."""
    seconds = settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_BACKOFF_MAX_SECONDS))


def _claim_lease() -> timedelta:
    # Longer than one request can take: a worker that dies mid-request leaves the row due
    # again after this, and the sweeper picks it up.
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """Attempt one due delivery. Returns what happened: ``not_due`` (already delivered,
    given up, or claimed by another worker — so running the task twice sends once),
    ``succeeded``, ``retry`` or ``failed``.

    The attempt is claimed by one conditional UPDATE (status pending, due now) that
    moves ``next_attempt_at`` ahead by a lease; the request is made with no transaction
    or lock held; the outcome is written only if the row is still this attempt's.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + _claim_lease(), last_attempt_at=now)
    if not claimed:
        return "not_due"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _record(delivery, now=now, final=True, error="endpoint deactivated")
    try:
        target = webhooks.webhook_target_resolve(endpoint.url)
    except webhooks.WebhookTargetRefused as exc:
        logger.warning("webhook %s refused: %s", endpoint.pk, exc)
        return _record(delivery, now=now, final=True, error=f"refused: {exc}")
    except webhooks.WebhookTargetUnresolvable as exc:
        return _record(delivery, now=now, error=str(exc))

    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Shop-Event": delivery.event,
        "X-Shop-Delivery": str(delivery.pk),
        webhooks.SIGNATURE_HEADER: webhooks.webhook_signature(
            secret=endpoint.secret, timestamp=int(now.timestamp()), body=body
        ),
    }
    try:
        status = webhooks.webhook_post_pinned(
            target=target, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return _record(delivery, now=now, error=f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return _record(delivery, now=now, succeeded=True, status_code=status)
    return _record(delivery, now=now, status_code=status, error=f"HTTP {status}")


def _record(
    delivery: WebhookDelivery,
    *,
    now: datetime,
    succeeded: bool = False,
    final: bool = False,
    status_code: int | None = None,
    error: str = "",
) -> str:
    this_attempt = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    )
    fields: dict = {
        "last_status_code": status_code,
        "last_error": error[:LAST_ERROR_CHARS],
        "updated_at": now,
    }
    if succeeded:
        this_attempt.update(status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now, **fields)
        return "succeeded"
    if final or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        this_attempt.update(status=WebhookDelivery.Status.FAILED, **fields)
        return "failed"
    delay = webhook_retry_delay(attempts=delivery.attempts)
    if this_attempt.update(next_attempt_at=now + delay, **fields) and delay <= SHORT_RETRY:
        from .tasks import webhook_deliver_task

        # Short waits get a timed message; longer ones are left to the minute sweeper (a
        # countdown beyond the broker's visibility timeout would be redelivered early).
        webhook_deliver_task.apply_async((delivery.pk,), countdown=delay.total_seconds())
    return "retry"


def webhook_delivery_retry_now(*, delivery_id: int, now: datetime | None = None) -> bool:
    """Ops: send a failed (or waiting) delivery again, with a fresh set of attempts."""
    now = now or timezone.now()
    updated = (
        WebhookDelivery.objects.filter(pk=delivery_id, endpoint__is_active=True)
        .exclude(status=WebhookDelivery.Status.SUCCEEDED)
        .update(status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )
    if updated:
        from .tasks import webhook_deliver_task

        transaction.on_commit(partial(webhook_deliver_task.delay, delivery_id))
    return bool(updated)


def webhook_deliveries_due(now: datetime, *, limit: int = 500) -> int:
    """Sweeper: hand due deliveries to the workers (lost messages, retries after backoff)."""
    from .tasks import webhook_deliver_task

    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)
