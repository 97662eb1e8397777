from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .errors import ProductNotFound
from .models import Category, Product, Sku

ORDERINGS = {
    "-sales": ("-sales_count", "-pk"),
    "price_fen": ("min_price_fen", "pk"),
    "-price_fen": ("-min_price_fen", "-pk"),
    "-created_at": ("-created_at", "-pk"),
}


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("sort_order", "pk")


def product_list_on_sale(
    *,
    q: str | None = None,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    ordering: str = "-sales",
) -> QuerySet[Product]:
    """On-sale products for shoppers, filtered and ordered as API.md lists."""
    products = Product.objects.filter(status=Product.Status.ON_SALE)
    if category_id is not None:
        products = products.filter(category_id=category_id)
    if min_price_fen is not None:
        products = products.filter(min_price_fen__gte=min_price_fen)
    if max_price_fen is not None:
        products = products.filter(min_price_fen__lte=max_price_fen)
    if q:
        products = products.filter(title__icontains=q)
    return products.order_by(*ORDERINGS.get(ordering, ORDERINGS["-sales"]))


def product_get_on_sale(*, product_id: int) -> Product:
    product = (
        Product.objects.filter(pk=product_id, status=Product.Status.ON_SALE)
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("pk")))
        .first()
    )
    if product is None:
        raise ProductNotFound()
    return product


def skus_for_checkout(*, sku_ids: list[int]) -> dict[int, Sku]:
    """SKUs with their products, keyed by id (missing ids simply absent)."""
    return {s.pk: s for s in Sku.objects.filter(pk__in=sku_ids).select_related("product")}
