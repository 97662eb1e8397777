"""Who may call the merchant console, decided before a view reads its body (issue 19, item 6).

A view that validated its body first and only then looked up the caller's merchant told a
non-merchant ``400 validation_error`` for a bad body and ``403 not_merchant_staff`` for a
good one: the answer depended on the body, and leaked which bodies were valid. As a DRF
permission the check runs in ``APIView.initial()``, before any handler, parser or filter,
so every caller who is not staff gets the same ``403`` whatever they send.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission, IsAuthenticated

from ..selectors import merchant_get_for_staff


class IsMerchantStaff(BasePermission):
    """Staff of an approved (or leaving) merchant; the merchant is kept as ``request.merchant``.

    Anyone else: ``403 not_merchant_staff`` (raised by the selector); no token: ``401``
    (``IsAuthenticated`` is listed first, see ``MERCHANT_STAFF``)."""

    approved = True

    def has_permission(self, request, view) -> bool:
        request.merchant = merchant_get_for_staff(user=request.user, approved=self.approved)
        return True


class IsMerchantStaffAnyStatus(IsMerchantStaff):
    """Staff of a merchant in any status (still under review, rejected): profile and history."""

    approved = False


MERCHANT_STAFF = [IsAuthenticated, IsMerchantStaff]
MERCHANT_STAFF_ANY_STATUS = [IsAuthenticated, IsMerchantStaffAnyStatus]
