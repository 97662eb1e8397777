"""After-sales: the merchant's cases with the deadline each is waiting on, and the answers
the merchant API allows — approve or reject (with an optional reason), and confirm that a
returned parcel arrived (the refund goes out). For operators and owners.

The page calls the API's selectors and services (``orders.selectors``,
``orders.services.after_sales``) and validates the reason with the API's input serializer.
It shows what the merchant API shows of a case (no buyer phone or shipping address; the
return address is the merchant's own).
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from merchants.roles import AREA_ROLES, ORDERS
from orders.api.views import MerchantDecisionInput as DecisionInput
from orders.models import AfterSale
from orders.selectors import after_sale_get_for_merchant, after_sale_list_for_merchant
from orders.services.after_sales import after_sale_approve, after_sale_reject, after_sale_return_received
from shop.errors import ApplicationError

from ..access import console_page
from ..input import found, refusal, validated
from ..paging import page_of

# Who may open the page: the services' own matrix (merchants/roles.py), not a second list.
ROLES = sorted(AREA_ROLES[ORDERS])

# Whose move a case waits for, and until when (API.md "After-sales cases").
_DEADLINES = {
    AfterSale.Status.REQUESTED: ("respond_by", True),  # the merchant answers, or it is approved
    AfterSale.Status.AWAITING_RETURN: ("return_by", False),  # the buyer posts the return
    AfterSale.Status.RETURN_SHIPPED: ("refund_by", True),  # the merchant refunds, or it is refunded
    AfterSale.Status.REJECTED: ("escalate_by", False),  # the buyer may ask ops
}


def case_deadline(case: AfterSale) -> dict | None:
    """``{"at": datetime, "ours": bool}``: the deadline the case waits on, and whether it is
    the merchant's; None for a case that waits on nobody (refunded, closed, with ops)."""
    field, ours = _DEADLINES.get(case.status, (None, False))
    at = getattr(case, field) if field else None
    return {"at": at, "ours": ours} if at else None


def _actions(case: AfterSale) -> list[str]:
    """The buttons the case's state allows (the service has the last word)."""
    if case.status == AfterSale.Status.REQUESTED:
        return ["approve", "reject"]
    if case.status == AfterSale.Status.RETURN_SHIPPED:
        return ["received", "reject"]
    return []


@console_page(*ROLES)
def after_sale_list(request):
    status = request.GET.get("status") or None
    if status not in AfterSale.Status.values:
        status = None
    cases = after_sale_list_for_merchant(merchant_id=request.merchant.pk, status=status)
    page = page_of(cases, request)
    rows = [{"case": case, "deadline": case_deadline(case)} for case in page.object_list]
    return render(
        request,
        "console/after_sales/list.html",
        {"page": page, "rows": rows, "status": status or "", "statuses": AfterSale.Status.choices},
    )


def _detail(request, case_id: int, *, errors=None, status: int = 200, reason: str = ""):
    case = found(after_sale_get_for_merchant, merchant_id=request.merchant.pk, case_id=case_id)
    items = case.items.select_related("order_item").order_by("pk")
    context = {
        "case": case,
        "items": items,
        "deadline": case_deadline(case),
        "actions": _actions(case),
        "errors": errors or {},
        "reason": reason,
    }
    return render(request, "console/after_sales/detail.html", context, status=status)


@console_page(*ROLES)
def after_sale_detail(request, case_id: int):
    return _detail(request, case_id)


_DONE = {
    "approve": _("Case approved."),
    "reject": _("Case rejected."),
    "received": _("Return received: the refund is on its way."),
}


@require_POST
@console_page(*ROLES)
def after_sale_answer(request, case_id: int, action: str):
    """``approve`` / ``reject`` (``reason`` optional, at most 255 characters, as the API) or
    ``received`` (the returned goods arrived). A refusal shows the case again with why."""
    merchant_id = request.merchant.pk
    found(after_sale_get_for_merchant, merchant_id=merchant_id, case_id=case_id)  # 404 first
    reason = request.POST.get("reason", "")
    # An empty box is no reason given (the API's field is optional, not blank).
    data, errors = validated(DecisionInput, {"reason": reason} if reason.strip() else {}, as_form=True)
    if errors:
        return _detail(request, case_id, errors=errors, status=400, reason=reason)
    try:
        if action == "received":
            after_sale_return_received(case_id=case_id, merchant_id=merchant_id, actor=request.user)
        else:
            decide = after_sale_approve if action == "approve" else after_sale_reject
            decide(case_id=case_id, merchant_id=merchant_id, actor=request.user, note=data["reason"])
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _detail(request, case_id, errors=errors, status=status, reason=reason)
    messages.success(request, _DONE[action])
    return redirect("console:after-sale", case_id=case_id)
