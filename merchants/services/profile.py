"""What a merchant's staff keep up to date in the profile: the return address."""

from __future__ import annotations

from django.db import transaction

from ..locks import merchant_qs_for_update
from ..models import Merchant
from ..roles import ORDERS, staff_require_role


@transaction.atomic
def merchant_return_address_set(*, merchant_id: int, address: dict, actor=None) -> Merchant:
    """Where buyers send approved returns from now on (a case already approved keeps the
    address it was given, copied onto the case). Returns are the operators' work: owner or
    operator (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    merchant = merchant_qs_for_update().get(pk=merchant_id)
    merchant.return_address = address
    merchant.save(update_fields=["return_address", "updated_at"])
    return merchant
