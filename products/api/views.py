from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from products.selectors import ORDERINGS, category_list, product_get_on_sale, product_list_on_sale

from .serializers import CategoryOutput, ProductDetailOutput, ProductListOutput


class CategoryListApi(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = CategoryOutput
    pagination_class = None

    def get_queryset(self):
        return category_list()


class ProductListApi(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = ProductListOutput

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, max_length=100, allow_blank=True)
        category = serializers.IntegerField(required=False, min_value=1)
        min_price_fen = serializers.IntegerField(required=False, min_value=0)
        max_price_fen = serializers.IntegerField(required=False, min_value=0)
        ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="-sales")

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return product_list_on_sale(
            q=data.get("q") or None,
            category_id=data.get("category"),
            min_price_fen=data.get("min_price_fen"),
            max_price_fen=data.get("max_price_fen"),
            ordering=data["ordering"],
        )


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ProductDetailOutput)
    def get(self, request, product_id: int):
        return Response(ProductDetailOutput(product_get_on_sale(product_id=product_id)).data)
