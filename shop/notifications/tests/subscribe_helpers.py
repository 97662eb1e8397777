"""Users, grants and messages for the subscribe message tests (shop sits below accounts:
users are made through ``get_user_model``, not the accounts factories)."""

from __future__ import annotations

import itertools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from shop.notifications.models import SubscribeGrant, SubscribeMessage

_numbers = itertools.count(1)


def make_user(*, openid: bool = True):
    n = next(_numbers)
    return get_user_model().objects.create(username=f"sub-user-{n}", openid=f"o-sub-{n}" if openid else None)


def template_id(kind: str) -> str:
    return settings.WECHAT_SUBSCRIBE_TEMPLATES[kind]["template_id"]


def grant(user, kind: str = "order_paid", count: int = 1) -> SubscribeGrant:
    row, _ = SubscribeGrant.objects.update_or_create(
        user=user, template_id=template_id(kind), defaults={"remaining_count": count}
    )
    return row


def remaining(user, kind: str = "order_paid") -> int:
    row = SubscribeGrant.objects.filter(user=user, template_id=template_id(kind)).first()
    return row.remaining_count if row else 0


def subscribe_message(*, user=None, kind: str = "order_paid", **fields) -> SubscribeMessage:
    user = user or make_user()
    return SubscribeMessage.objects.create(
        key=fields.pop("key", f"test:{next(_numbers)}:{template_id(kind)}"),
        recipient=user,
        kind=kind,
        template_id=template_id(kind),
        page=fields.pop("page", "pages/order/detail?id=1"),
        data=fields.pop("data", {"character_string1": {"value": "1"}}),
        next_attempt_at=fields.pop("next_attempt_at", timezone.now()),
        **fields,
    )
