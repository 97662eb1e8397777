"""Row locks of the catalog, always taken in pk order so two writers cannot deadlock."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Product


def product_qs_for_update() -> QuerySet[Product]:
    """Products locked FOR NO KEY UPDATE in pk order; joined rows are not locked."""
    return Product.objects.order_by("pk").select_for_update(no_key=True, of=("self",))
