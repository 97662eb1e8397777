from __future__ import annotations

from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef

from .errors import NotMerchantStaff
from .models import Merchant, MerchantStaff


def merchant_id_for_user(user) -> int | None:
    """The merchant this user works for (any status), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    staff = MerchantStaff.objects.filter(user=user).only("merchant_id").first()
    return staff.merchant_id if staff else None


def merchant_get_for_staff(*, user, approved: bool = True) -> Merchant:
    """The caller's merchant; refuses users who are not its staff (or not yet approved)."""
    staff = MerchantStaff.objects.select_related("merchant").filter(user=user).first()
    if staff is None or (approved and staff.merchant.status != Merchant.Status.APPROVED):
        raise NotMerchantStaff()
    return staff.merchant


def merchant_staff_user_ids(*, merchant_id: int) -> list[int]:
    return list(MerchantStaff.objects.filter(merchant_id=merchant_id).values_list("user_id", flat=True))


def merchant_deposit_balance(*, merchant_id: int) -> int:
    return account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_DEPOSIT, merchant_id))
