"""Configurable rules of the seller side (``settings.SHOP_RULES``, with defaults here)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

DEFAULT_DEPOSIT_REFUND_COOL_OFF = timedelta(days=15)


def deposit_refund_cool_off() -> timedelta:
    """How long after asking to leave a merchant's deposit is refunded: late complaints
    about its orders can still be paid from it until then."""
    return settings.SHOP_RULES.get("DEPOSIT_REFUND_COOL_OFF", DEFAULT_DEPOSIT_REFUND_COOL_OFF)


DEFAULT_STAFF_INVITATION_TTL = timedelta(hours=72)


def staff_invitation_ttl() -> timedelta:
    """How long an owner's staff invitation can be accepted (API.md: 72 h)."""
    return settings.SHOP_RULES.get("STAFF_INVITATION_TTL", DEFAULT_STAFF_INVITATION_TTL)
