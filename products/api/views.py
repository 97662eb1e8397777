from __future__ import annotations

import functools

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from products import cache as catalog_cache
from products.registry import flash_prices
from products.selectors import ORDERINGS, category_list, product_get_on_sale, product_page_on_sale
from shop.api.pagination import Pagination
from shop.api.serializers import IdField, QuerySerializer
from shop.errors import NotFound

from .serializers import CategoryOutput, ProductDetailOutput, ProductListOutput

PAGE_SIZE = settings.REST_FRAMEWORK["PAGE_SIZE"]


class CategoryListApi(ListAPIView):
    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    permission_classes = [AllowAny]
    # Public and personalised by nothing: a token the mini-program sends anyway is not
    # looked up (one query saved on the hottest reads).
    authentication_classes: list = []
    serializer_class = CategoryOutput
    pagination_class = None

    def get_queryset(self):
        return category_list()


class ProductListApi(APIView):
    """On-sale products; ``q`` searches Chinese-aware (products/search.py)."""

    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    permission_classes = [AllowAny]
    # Public and personalised by nothing: a token the mini-program sends anyway is not
    # looked up (one query saved on the hottest reads).
    authentication_classes: list = []

    class FilterSerializer(QuerySerializer):
        q = serializers.CharField(required=False, max_length=100, allow_blank=True)
        category = serializers.IntegerField(required=False, min_value=1)
        min_price_fen = serializers.IntegerField(required=False, min_value=0)
        max_price_fen = serializers.IntegerField(required=False, min_value=0)
        ordering = serializers.ChoiceField(
            choices=list(ORDERINGS),
            required=False,
            help_text="Default: best match first when `q` is given, else `-sales`.",
        )
        page = serializers.IntegerField(required=False, min_value=1, default=1)
        page_size = serializers.IntegerField(required=False, min_value=1, default=PAGE_SIZE)

    @extend_schema(
        operation_id="products_list",
        parameters=[FilterSerializer],
        responses=inline_serializer(
            "PaginatedProductList",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ProductListOutput(many=True),
            },
        ),
    )
    def get(self, request):
        data = _validated_filters(tuple(sorted(request.query_params.items())))
        size = min(data["page_size"], Pagination.max_page_size)
        number = data["page"]
        query = {
            "offset": (number - 1) * size,
            "limit": size,
            "q": (data.get("q") or "").strip() or None,
            "category_id": data.get("category"),
            "min_price_fen": data.get("min_price_fen"),
            "max_price_fen": data.get("max_price_fen"),
            "ordering": data.get("ordering"),
        }
        count, rows = self._page(query)
        if number > 1 and not rows:
            raise NotFound("Invalid page.")
        url = request.build_absolute_uri()
        previous = None
        if number > 1:
            previous = (
                remove_query_param(url, "page")
                if number == 2
                else replace_query_param(url, "page", number - 1)
            )
        return Response(
            {
                "count": count,
                "next": replace_query_param(url, "page", number + 1) if number * size < count else None,
                "previous": previous,
                # rows are ProductListOutput's fields already (values() of LIST_FIELDS)
                "results": rows,
            }
        )

    @staticmethod
    def _page(query: dict) -> tuple[int, list[dict]]:
        """The page, from the version-checked cache when it is on (products/cache.py)."""
        if not catalog_cache.enabled():
            return product_page_on_sale(**query)
        key = catalog_cache.page_key(query)
        cached, version = catalog_cache.page_get(key)
        if cached is not None:
            return cached
        page = product_page_on_sale(**query)
        catalog_cache.page_set(key, version, page)
        return page


@functools.lru_cache(maxsize=2048)
def _validated_filters(params: tuple[tuple[str, str], ...]) -> dict:
    """The list's query parameters through its FilterSerializer, remembered per distinct
    query string: building a DRF serializer deep-copies its fields, about a third of a
    cached search page's time, and shoppers repeat the same searches. Invalid input is
    not remembered (the exception escapes the cache) and answers 400 as usual. Callers
    must not change the returned dict."""
    filters = ProductListApi.FilterSerializer(data=dict(params))
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


class ProductDetailApi(APIView):
    """Public. With ``?store_id=``, each SKU's ``flash_price_fen`` is the price of its live
    flash offer that the caller would get through that store (products/registry.py)."""

    reads_may_lag = True  # a read replica may answer (shop/replicas.py)

    permission_classes = [AllowAny]

    class QueryInput(QuerySerializer):
        store_id = IdField(required=False)

    def perform_authentication(self, request) -> None:
        # A token the mini-program sends anyway is looked up only when ``store_id`` asks for
        # the caller's flash prices (one query saved on the hottest reads).
        pass

    @extend_schema(parameters=[QueryInput], responses=ProductDetailOutput)
    def get(self, request, product_id: int):
        query = self.QueryInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        product = product_get_on_sale(product_id=product_id)
        prices: dict[int, int] = {}
        store_id = query.validated_data.get("store_id")
        if store_id is not None and request.user.is_authenticated:
            prices = flash_prices(
                store_id=store_id, user=request.user, sku_ids=[s.pk for s in product.skus.all()]
            )
        return Response(ProductDetailOutput(product, context={"flash_prices": prices}).data)
