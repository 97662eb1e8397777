"""Flash-offer proposals: the merchant's offers with their review status (and ops' reason
when rejected), and the form to propose one. The form is checked by the API's input
serializer and the offer made by the API's service (``flash_offer_propose``), so the terms
and their messages are the API's; ops approve or reject in admin. For operators and owners.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from merchants.roles import AREA_ROLES, FLASH
from orders.api.flash_offers import MerchantFlashOfferListCreateApi
from orders.models import FlashOffer
from orders.selectors import flash_offer_list_for_merchant
from orders.services.flash_offers import flash_offer_propose
from products.selectors import sku_choices_for_merchant
from shop.errors import ApplicationError

from ..access import console_page
from ..input import refusal, validated
from ..paging import page_of

# Who may open the page: the services' own matrix (merchants/roles.py), not a second list.
ROLES = sorted(AREA_ROLES[FLASH])
FIELDS = ("sku_id", "flash_price_fen", "units", "per_buyer_limit", "starts_at", "ends_at")


def _page(request, *, form=None, errors=None, status: int = 200):
    merchant_id = request.merchant.pk
    chosen = request.GET.get("status") or None
    if chosen not in FlashOffer.Status.values:
        chosen = None
    offers = flash_offer_list_for_merchant(merchant_id=merchant_id, status=chosen).select_related(
        "sku__product"
    )
    context = {
        "page": page_of(offers, request),
        "status": chosen or "",
        "statuses": FlashOffer.Status.choices,
        "skus": sku_choices_for_merchant(merchant_id=merchant_id),
        "form": form or {},
        "errors": errors or {},
    }
    return render(request, "console/flash_offers/page.html", context, status=status)


@console_page(*ROLES)
def flash_offers(request):
    """GET: the list and an empty form. POST: propose; refused terms show the form again
    with each field's reason (400), another merchant's SKU 404, an overlapping offer 409."""
    if request.method != "POST":
        return _page(request)
    form = {name: request.POST.get(name, "").strip() for name in FIELDS}
    data, errors = validated(MerchantFlashOfferListCreateApi.InputSerializer, form, as_form=True)
    if errors:
        return _page(request, form=form, errors=errors, status=400)
    try:
        offer = flash_offer_propose(merchant_id=request.merchant.pk, proposer=request.user, **data)
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _page(request, form=form, errors=errors, status=status)
    messages.success(
        request, _("Flash offer #%(id)s proposed: it waits for the platform's review.") % {"id": offer.pk}
    )
    return redirect("console:flash-offers")
