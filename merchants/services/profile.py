"""What a merchant's staff keep up to date in the profile: the return address."""

from __future__ import annotations

from django.db import transaction

from ..locks import merchant_qs_for_update
from ..models import Merchant


@transaction.atomic
def merchant_return_address_set(*, merchant_id: int, address: dict) -> Merchant:
    """Where buyers send approved returns from now on (a case already approved keeps the
    address it was given, copied onto the case)."""
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    merchant.return_address = address
    merchant.save(update_fields=["return_address", "updated_at"])
    return merchant
