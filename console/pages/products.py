"""Products and SKUs: the list (search by title or SKU code, filter by status), a new product,
one product's page (edit, on/off sale, add a SKU), and one SKU's edit page.

Every write goes through the services behind ``/api/v1/merchant/products…``
(``merchants/api/console.py``) and its input is checked by that API's own serializers; the
console only turns yuan into fen and "name: value" lines into a spec.
"""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from merchants.api.console import (
    MerchantProductDetailApi,
    MerchantProductListApi,
    SkuInput,
    sku_service_data,
)
from merchants.services import (
    merchant_product_create,
    merchant_product_update,
    merchant_sku_create,
    merchant_sku_update,
)
from products.models import Product
from products.selectors import product_get_for_merchant, product_list_for_merchant, sku_get_for_merchant
from shop.errors import ApplicationError
from shop.money import fen_display, fen_parse_yuan

from ..access import console_page
from ..input import found, refusal, validated
from ..paging import page_of

SKU_YUAN_FIELDS = {"price": "price_fen", "team_price": "team_price_fen"}
SKU_INT_FIELDS = ("stock", "commission_bps", "team_size")
_FORM_NAME = {target: name for name, target in SKU_YUAN_FIELDS.items()}


def _sku_errors(serializer_errors: dict, form_errors: dict) -> dict:
    """Both kinds of SKU error under the form's field names (``price``, not ``price_fen``)."""
    merged = {_FORM_NAME.get(key, key): messages for key, messages in serializer_errors.items()}
    return {**merged, **form_errors}


def _categories(merchant):
    return merchant.categories.order_by("sort_order", "pk")


def _whole_number(value: str) -> int | None:
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 18 else None


def _product_data(post) -> dict:
    """The product form as the API's input serializer takes it (it wants JSON types)."""
    data = {key: post[key] for key in ("title", "description") if key in post}
    if "category_id" in post:
        data["category_id"] = _whole_number(post["category_id"])
    if "images" in post:
        data["images"] = [line.strip() for line in post["images"].splitlines() if line.strip()]
    return data


def _sku_data(post, *, partial: bool) -> tuple[dict, dict[str, list[str]]]:
    """The SKU form as the API's ``SkuInput`` takes it: yuan to fen, spec lines to a dict.
    Blank optional fields are left out (on an edit: left unchanged)."""
    data: dict = {}
    errors: dict[str, list[str]] = {}
    if post.get("code", "").strip():
        data["code"] = post["code"].strip()
    for key in SKU_INT_FIELDS:
        value = post.get(key, "").strip()
        if not value:
            continue
        data[key] = _whole_number(value)
        if data[key] is None:
            errors[key] = [_("Enter a whole number.")]
    for key, target in SKU_YUAN_FIELDS.items():
        value = post.get(key, "").strip()
        if not value:
            continue
        try:
            data[target] = fen_parse_yuan(value)
        except ValueError:
            errors[key] = [_("Enter an amount in yuan, e.g. 19.90.")]
    spec_text = post.get("spec", "")
    if spec_text.strip() or not partial:
        spec = {}
        for line in spec_text.splitlines():
            if not line.strip():
                continue
            name, sep, value = line.replace("：", ":").partition(":")
            if not sep or not name.strip() or not value.strip():
                errors.setdefault("spec", []).append(
                    f"Write each spec as name: value ({line.strip()[:30]!r})."
                )
                continue
            spec[name.strip()] = value.strip()
        data["spec"] = spec
    return data, errors


@console_page()
def product_list(request):
    status = request.GET.get("status") or None
    if status not in Product.Status.values:
        status = None
    q = request.GET.get("q", "").strip()[:100] or None
    products = product_list_for_merchant(merchant_id=request.merchant.pk, status=status, q=q)
    return render(
        request,
        "console/products/list.html",
        {"page": page_of(products, request), "statuses": Product.Status.choices, "status": status, "q": q},
    )


@console_page()
def product_new(request):
    errors: dict = {}
    if request.method == "POST":
        data, errors = validated(MerchantProductListApi.InputSerializer, _product_data(request.POST))
        if data is not None:
            try:
                product = merchant_product_create(
                    merchant=request.merchant,
                    category_id=data["category_id"],
                    title=data["title"],
                    description=data["description"],
                    images=data["images"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                errors, status = refusal(exc)
                return _new_form(request, errors, status)
            return redirect("console:product", product_id=product.pk)
    return _new_form(request, errors, 400 if errors else 200)


def _new_form(request, errors, status):
    context = {"errors": errors, "values": request.POST, "categories": _categories(request.merchant)}
    return render(request, "console/products/new.html", context, status=status)


def _content_values(product) -> dict:
    return {
        "title": product.title,
        "category_id": str(product.category_id),
        "description": product.description,
        "images": "\n".join(product.images or []),
    }


def _sku_values(sku) -> dict:
    return {
        "code": sku.code,
        "price": fen_display(sku.price_fen).lstrip("¥"),
        "stock": sku.on_hand,
        "commission_bps": sku.commission_bps,
        "team_price": fen_display(sku.team_price_fen).lstrip("¥") if sku.team_price_fen else "",
        "team_size": sku.team_size or "",
        "spec": "\n".join(f"{k}: {v}" for k, v in (sku.spec or {}).items()),
    }


def _detail(request, product, *, errors=None, sku_errors=None, status=200):
    context = {
        "product": product,
        "categories": _categories(request.merchant),
        "errors": errors or {},
        "sku_errors": sku_errors or {},
        "content_values": request.POST if errors and "title" in request.POST else _content_values(product),
        "sku_values": request.POST if sku_errors else {},
    }
    return render(request, "console/products/detail.html", context, status=status)


@console_page()
def product_detail(request, product_id: int):
    """GET: the product and its SKUs. POST: edit its content, or (``status``) put it on or
    off sale — ``merchant_product_update`` does both, all or nothing."""
    merchant = request.merchant
    product = found(product_get_for_merchant, merchant_id=merchant.pk, product_id=product_id)
    if request.method != "POST":
        return _detail(request, product)
    raw = _product_data(request.POST)
    if "status" in request.POST:  # the on/off sale buttons send only this
        raw["status"] = request.POST["status"]
    data, errors = validated(MerchantProductDetailApi.InputSerializer, raw)
    if data is None:
        return _detail(request, product, errors=errors, status=400)
    try:
        merchant_product_update(merchant=merchant, product_id=product.pk, actor=request.user, **data)
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _detail(request, product, errors=errors, status=status)
    return redirect("console:product", product_id=product.pk)


@require_POST
@console_page()
def sku_new(request, product_id: int):
    merchant = request.merchant
    product = found(product_get_for_merchant, merchant_id=merchant.pk, product_id=product_id)
    raw, errors = _sku_data(request.POST, partial=False)
    data, serializer_errors = validated(SkuInput, raw)
    errors = _sku_errors(serializer_errors, errors)
    if errors:
        return _detail(request, product, sku_errors=errors, status=400)
    try:
        merchant_sku_create(
            merchant=merchant, product_id=product.pk, data=sku_service_data(data), actor=request.user
        )
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _detail(request, product, sku_errors=errors, status=status)
    return redirect("console:product", product_id=product.pk)


@console_page()
def sku_edit(request, sku_id: int):
    merchant = request.merchant
    sku = found(sku_get_for_merchant, merchant_id=merchant.pk, sku_id=sku_id)
    errors: dict = {}
    status = 200
    if request.method == "POST":
        raw, errors = _sku_data(request.POST, partial=True)
        data, serializer_errors = validated(SkuInput, raw, partial=True)
        errors, status = _sku_errors(serializer_errors, errors), 400
        if not errors:
            try:
                merchant_sku_update(
                    merchant=merchant, sku_id=sku.pk, changes=sku_service_data(data), actor=request.user
                )
            except ApplicationError as exc:
                errors, status = refusal(exc)
            else:
                return redirect("console:product", product_id=sku.product_id)
    context = {"sku": sku, "errors": errors, "values": request.POST if errors else _sku_values(sku)}
    return render(request, "console/products/sku.html", context, status=status)
