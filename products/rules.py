"""Catalog rules that come from how merchants are paid (docs/merchant-money.md)."""

from __future__ import annotations

from django.conf import settings


def commission_ceiling_bps() -> int:
    """The highest commission rate a SKU (or a category's bounds) may have: what a share
    carries is commission + the platform fee, and it may never exceed the merchant's maximum
    share ratio (WeChat's default 30 %): 3,000 − 60 = 2,940 bps with the default rules."""
    rules = settings.SHOP_RULES
    return rules["MERCHANT_MAX_SHARE_BPS"] - rules["MERCHANT_PLATFORM_FEE_BPS"]
