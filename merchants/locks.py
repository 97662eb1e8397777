"""Row locks of the seller side.

Every change to a merchant's deposit (payment, deduction, refund start, a refund's
outcome) and every publish locks the merchant row first, so "does the deposit cover the category?" is
decided on a balance nobody else is changing. Lock order: merchant, then products.
"""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Merchant


def merchant_qs_for_update() -> QuerySet[Merchant]:
    return Merchant.objects.order_by("pk").select_for_update(no_key=True, of=("self",))
