from __future__ import annotations

from django.db import transaction

from .models import Notification


def notification_send(
    *,
    recipient_id: int,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Create an in-app notification; with ``dedupe_key``, sending twice creates one."""
    if dedupe_key:
        with transaction.atomic():
            notification, _ = Notification.objects.get_or_create(
                dedupe_key=dedupe_key,
                defaults={
                    "recipient_id": recipient_id,
                    "kind": kind,
                    "title": title,
                    "body": body,
                    "data": data or {},
                },
            )
        return notification
    return Notification.objects.create(
        recipient_id=recipient_id, kind=kind, title=title, body=body, data=data or {}
    )
