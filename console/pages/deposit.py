"""Deposit: what the margin deposit covers (per category), its movements, and paying in.

Paying makes a deposit payment through the API's service (``deposit_payment_create``, the
same amount rule) and shows its payment page: a QR code of the gateway's ``code_url``
(WeChat Pay "Native": the payer scans it with WeChat), drawn on the server. The page polls
the payment's status (htmx, every 3 s) until it is paid; the money arrives through the
gateway's notification, as any payment's does. For finance and owners.
"""

from __future__ import annotations

import base64

from django.db import transaction
from django.shortcuts import redirect, render

from merchants.api.views import MerchantDepositCreateApi
from merchants.roles import AREA_ROLES, DEPOSIT
from merchants.selectors import (
    deposit_movement_list_for_merchant,
    deposit_payment_get_for_merchant,
    merchant_deposit_coverage,
)
from merchants.services import deposit_payment_create
from shop.errors import ApplicationError
from shop.payments.gateways.registry import default_gateway_name
from shop.payments.models import Payment
from shop.payments.services import payment_code_url

from ..access import console_page
from ..input import found, refusal, validated
from ..paging import page_of
from ..qr import qr_svg

# Who may open the page: the services' own matrix (merchants/roles.py), not a second list.
ROLES = sorted(AREA_ROLES[DEPOSIT])


def _page(request, *, errors=None, amount: str = "", status: int = 200):
    merchant = request.merchant
    context = {
        "coverage": merchant_deposit_coverage(merchant=merchant),
        "page": page_of(
            deposit_movement_list_for_merchant(merchant_id=merchant.pk, viewer=request.user), request
        ),
        "errors": errors or {},
        "amount": amount,
    }
    return render(request, "console/deposit/page.html", context, status=status)


@console_page(*ROLES)
def deposit_page(request):
    return _page(request)


@console_page(*ROLES)
def deposit_pay(request):
    """POST ``amount_fen``: a deposit payment, then its page with the QR code. Bad amount or a
    merchant that may not pay: the deposit page again with why (nothing written)."""
    if request.method != "POST":
        return redirect("console:deposit")
    amount = request.POST.get("amount_fen", "").strip()
    data, errors = validated(MerchantDepositCreateApi.InputSerializer, {"amount_fen": amount}, as_form=True)
    if errors:
        return _page(request, errors=errors, amount=amount, status=400)
    try:
        with transaction.atomic():
            payment = deposit_payment_create(
                merchant=request.merchant,
                payer=request.user,
                amount_fen=data["amount_fen"],
                gateway=default_gateway_name(),
            )
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _page(request, errors=errors, amount=amount, status=status)
    return redirect("console:deposit-payment", payment_id=payment.pk)


@console_page(*ROLES)
def deposit_payment(request, payment_id: int):
    """The payment's QR code while it waits to be paid; its outcome once it is not."""
    payment = found(
        deposit_payment_get_for_merchant,
        merchant_id=request.merchant.pk,
        payment_id=payment_id,
        viewer=request.user,
    )
    qr, error = None, None
    if payment.status == Payment.Status.CREATED:
        try:
            svg = qr_svg(payment_code_url(payment=payment))
            qr = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
        except ApplicationError as exc:  # the gateway could not be asked: say so, try again later
            error = exc.message
    return render(request, "console/deposit/payment.html", {"payment": payment, "qr": qr, "error": error})


@console_page(*ROLES)
def deposit_payment_status(request, payment_id: int):
    """The htmx fragment the payment page polls: the status, polling on while unpaid."""
    payment = found(
        deposit_payment_get_for_merchant,
        merchant_id=request.merchant.pk,
        payment_id=payment_id,
        viewer=request.user,
    )
    return render(request, "console/deposit/_status.html", {"payment": payment})
