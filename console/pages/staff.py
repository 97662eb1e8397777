"""Staff management: who works for the merchant, invitations, removing staff, leaving.

Every action is a service in merchants/services/staff.py, the same the API calls
(``/merchant/staff``): the owner-only rules live there, so an operator who posts the invite
form by hand gets the same refusal as from the API (shown here as a 403 page).
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from merchants.errors import LastOwnerCannotLeave, NotMerchantOwner, StaffNotFound, StaffRemoveSelf
from merchants.models import MerchantStaff
from merchants.roles import STAFF, role_may
from merchants.selectors import merchant_staff_list
from merchants.services import merchant_staff_invite, merchant_staff_leave, merchant_staff_remove

from ..access import console_page


def _page(request, *, status: int = 200, **extra):
    context = {
        "members": merchant_staff_list(merchant_id=request.merchant.pk),
        "roles": MerchantStaff.Role.values,
        "may_manage": role_may(request.staff.role, STAFF),
        **extra,
    }
    response = render(request, "console/staff/list.html", context, status=status)
    response["Cache-Control"] = "no-store"  # an invitation code is shown once
    return response


def _forbidden(request):
    return render(request, "console/forbidden.html", status=403)


@require_GET
@console_page()
def staff_list(request):
    return _page(request)


@require_POST
@console_page()
def staff_invite(request):
    role = request.POST.get("role")
    if role not in MerchantStaff.Role.values:
        return _page(request, status=400, error=_("Choose a role for the invitation."))
    try:
        invitation, code = merchant_staff_invite(merchant=request.merchant, role=role, actor=request.user)
    except NotMerchantOwner:
        return _forbidden(request)
    return _page(request, invitation=invitation, code=code)


@require_POST
@console_page()
def staff_remove(request, staff_id: int):
    try:
        merchant_staff_remove(merchant=request.merchant, staff_id=staff_id, actor=request.user)
    except NotMerchantOwner:
        return _forbidden(request)
    except StaffNotFound:
        raise Http404() from None
    except StaffRemoveSelf:
        return _page(request, status=400, error=_("You cannot remove yourself: use “Leave” instead."))
    return redirect("console:staff")


@require_POST
@console_page()
def staff_leave(request):
    try:
        merchant_staff_leave(user=request.user)
    except LastOwnerCannotLeave:
        return _page(
            request,
            status=409,
            error=_("You are the last owner: invite another owner before you leave."),
        )
    logout(request)
    return redirect("console:signin")
