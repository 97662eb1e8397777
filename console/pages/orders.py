"""Orders: the list with filters (status, dates placed, order number, product), one order's
page with the single ship form, the shipping list to download, and tracking numbers uploaded
in bulk.

Reads go through ``order_list_for_merchant`` / ``order_get_for_merchant`` (the selectors of
``GET /merchant/orders``), so another merchant's order is a 404; shipping goes through
``order_ship`` (``POST /merchant/orders/{id}/ship``) with that endpoint's input rules. What
the merchant sees of the buyer is what the merchant order API shows: the nickname and the
delivery address it must ship to (or the pickup point and its leader's contact) — never a
pickup code.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from merchants.errors import StockFileRejected
from orders.api.views import MerchantOrderShipApi
from orders.models import Order, OrderItem
from orders.selectors import merchant_sees_address, order_get_for_merchant, order_list_for_merchant
from orders.services.lifecycle import order_ship
from orders.services.tracking_upload import MAX_ROWS as TRACKING_MAX_ROWS
from orders.services.tracking_upload import order_ship_from_file
from orders.shipping_list import SHIPPING_LIST_COLUMNS, shipping_list_rows
from products.selectors import product_choices_for_merchant
from shop.errors import ApplicationError

from ..access import console_page
from ..downloads import FORMATS, table_download
from ..input import NON_FIELD, found, refusal, validated
from ..paging import page_of


def _SANE_YEAR(value) -> None:  # noqa: N802 - a validator, named as the rule it is
    if not 2000 <= value.year <= 2100:
        raise forms.ValidationError(_("Enter a date between 2000 and 2100."))


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", _("All")), *Order.Status.choices])
    # Bounded: a date near the end of the calendar would overflow the day after it (a 500).
    date_from = forms.DateField(required=False, label=_("Placed from"), validators=[_SANE_YEAR])
    date_to = forms.DateField(required=False, label=_("Placed to (inclusive)"), validators=[_SANE_YEAR])
    order = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label=_("Order number"))
    product = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label=_("Product"))

    def __init__(self, *args, products: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", _("All")), *products]

    def selector_filters(self) -> dict:
        """The valid filters as ``order_list_for_merchant`` takes them (dates as the
        merchant's local days: ``date_to`` includes the whole day)."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        start = data.get("date_from")
        end = data.get("date_to")
        return {
            "status": data.get("status") or None,
            "order_id": data.get("order"),
            "product_id": data.get("product"),
            "created_from": datetime.combine(start, time.min, zone) if start else None,
            "created_before": datetime.combine(end + timedelta(days=1), time.min, zone) if end else None,
        }


@console_page()
def order_list(request):
    merchant = request.merchant
    form = OrderFilterForm(
        request.GET or None, products=product_choices_for_merchant(merchant_id=merchant.pk)
    )
    filters, status = {}, 200
    if form.is_bound:
        if form.is_valid():
            filters = form.selector_filters()
        else:
            status = 400  # the form again with its errors; the list unfiltered
    # The selector's filters; the list shows only items, buyer and delivery, so the selector's
    # detail loads (payment, team, after-sales) are swapped for those two.
    orders = (
        order_list_for_merchant(merchant_id=merchant.pk, **filters)
        .select_related(None)
        .prefetch_related(None)
        .select_related("buyer")
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("pk")))
    )
    context = {"form": form, "page": page_of(orders, request), "to_ship": Order.Status.PAID}
    return render(request, "console/orders/list.html", context, status=status)


@console_page()
def order_detail(request, order_id: int):
    """GET: the order. POST (``carrier``, ``tracking_no``): ship it."""
    merchant = request.merchant
    order = found(order_get_for_merchant, merchant_id=merchant.pk, order_id=order_id)
    errors, status = {}, 200
    if request.method == "POST":
        data, errors = validated(MerchantOrderShipApi.InputSerializer, request.POST.dict())
        status = 400
        if data is not None:
            try:
                order_ship(order_id=order.pk, merchant_id=merchant.pk, actor=request.user, **data)
            except ApplicationError as exc:
                errors, status = refusal(exc)
            else:
                return redirect("console:order", order_id=order.pk)
    context = {
        "order": order,
        "show_address": merchant_sees_address(order),
        "errors": errors,
        "form": request.POST,
        "to_ship": Order.Status.PAID,
    }
    return render(request, "console/orders/detail.html", context, status=status)


@console_page()
def shipping_list(request, file_format: str):
    if file_format not in FORMATS:
        raise Http404
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return table_download(
        filename_stem=f"shipping-list-{stamp}",
        header=SHIPPING_LIST_COLUMNS,
        rows=shipping_list_rows(merchant_id=request.merchant.pk),
        file_format=file_format,
    )


@console_page()
def tracking_upload(request):
    """GET: the form. POST (multipart ``file``): ship each row; show what shipped, what was
    already shipped, and each failed row with its reason."""
    context: dict = {"errors": {}, "result": None, "max_rows": TRACKING_MAX_ROWS}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["errors"], status = {"file": [gettext_now("Choose a CSV or XLSX file.")]}, 400
        else:
            try:
                context["result"] = order_ship_from_file(
                    merchant_id=request.merchant.pk,
                    fileobj=upload.file,
                    filename=upload.name,
                    size=upload.size,
                    actor=request.user,
                )
            except StockFileRejected as exc:
                context["errors"], status = {NON_FIELD: [exc.message]}, 400
            except ApplicationError as exc:
                context["errors"], status = refusal(exc)
    return render(request, "console/orders/tracking.html", context, status=status)
