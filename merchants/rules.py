"""Configurable rules of the seller side (``settings.SHOP_RULES``; their defaults are in settings)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def deposit_refund_cool_off() -> timedelta:
    """How long after asking to leave a merchant's deposit is refunded: late complaints
    about its orders can still be paid from it until then."""
    return settings.SHOP_RULES["DEPOSIT_REFUND_COOL_OFF"]


def staff_invitation_ttl() -> timedelta:
    """How long an owner's staff invitation can be accepted (docs/api.md: 72 h)."""
    return settings.SHOP_RULES["STAFF_INVITATION_TTL"]
