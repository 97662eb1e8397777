"""The seller part of a person's data (``accounts/privacy.py``): the merchant they work for.
Merchant staff cannot erase their account: they leave the staff first (the last owner of a
merchant still on the platform cannot leave at all: someone answers for its orders)."""

from __future__ import annotations

from typing import Any

from .models import MerchantStaff


def _staff_export(user) -> dict[str, Any] | None:
    staff = MerchantStaff.objects.select_related("merchant").filter(user=user).first()
    if staff is None:
        return None
    return {
        "merchant_id": staff.merchant_id,
        "company_name": staff.merchant.company_name,
        "role": staff.role,
        "since": staff.created_at,
    }


def _open_duties(user) -> list[str]:
    staff = MerchantStaff.objects.select_related("merchant").filter(user=user).first()
    if staff is None:
        return []
    return [
        f"You are on the staff of the merchant “{staff.merchant.company_name}”: "
        "leave it first (DELETE /merchant/staff/me)."
    ]


def register_privacy() -> None:
    from accounts.privacy import register_privacy_section

    register_privacy_section(name="merchant_staff", export=_staff_export, open_duties=_open_duties)
