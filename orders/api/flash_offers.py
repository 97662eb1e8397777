"""Flash offers: merchants propose and list theirs; a store's members see the store's."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from merchants.api.permissions import MERCHANT_STAFF
from orders.models import FlashOffer
from orders.selectors import flash_offer_list_for_merchant, flash_offer_list_for_store
from orders.services.flash_offers import UNITS_MAX, flash_offer_propose
from shop.api.serializers import IdField, ModelSerializer, QuerySerializer, Serializer


class MerchantFlashOfferOutput(ModelSerializer):
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField(source="sku.product_id")
    units = serializers.IntegerField(
        source="quantity", help_text="Units on offer at the flash price, in all."
    )
    units_sold = serializers.IntegerField(
        source="sold_count", help_text="Units held by orders not cancelled."
    )
    per_buyer_limit = serializers.IntegerField(source="per_user_limit")
    rejection_reason = serializers.CharField(help_text="Why ops rejected it (empty otherwise).")

    class Meta:
        model = FlashOffer
        fields = (
            "id",
            "sku_id",
            "product_id",
            "flash_price_fen",
            "units",
            "units_sold",
            "per_buyer_limit",
            "starts_at",
            "ends_at",
            "status",
            "rejection_reason",
            "reviewed_at",
            "created_at",
        )


class StoreFlashOfferOutput(ModelSerializer):
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField(source="sku.product_id")
    units_left = serializers.IntegerField(source="remaining")
    per_buyer_limit = serializers.IntegerField(source="per_user_limit")

    class Meta:
        model = FlashOffer
        fields = (
            "id",
            "sku_id",
            "product_id",
            "flash_price_fen",
            "units_left",
            "per_buyer_limit",
            "starts_at",
            "ends_at",
        )


class MerchantFlashOfferListCreateApi(ListAPIView):
    """``GET``: the merchant's offers, newest first. ``POST``: propose one on an own SKU; it
    waits for ops' review (``pending_review``) and is never live before it is approved."""

    permission_classes = MERCHANT_STAFF
    serializer_class = MerchantFlashOfferOutput

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=FlashOffer.Status.choices, required=False)

    class InputSerializer(Serializer):
        sku_id = IdField()
        flash_price_fen = serializers.IntegerField(min_value=1, max_value=100_000_000)
        units = serializers.IntegerField(min_value=1, max_value=UNITS_MAX)
        per_buyer_limit = serializers.IntegerField(min_value=1, max_value=UNITS_MAX)
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return flash_offer_list_for_merchant(
            merchant_id=self.request.merchant.pk, status=filters.validated_data.get("status")
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: MerchantFlashOfferOutput},
        description="Another merchant's SKU (or none): `404`. Terms out of bounds: `400` naming the "
        "fields. An offer of the SKU waiting or approved in an overlapping window: `409 "
        "flash_offer_overlaps`.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        offer = flash_offer_propose(
            merchant_id=request.merchant.pk, proposer=request.user, **payload.validated_data
        )
        return Response(MerchantFlashOfferOutput(offer).data, status=status.HTTP_201_CREATED)


class StoreFlashOfferListApi(ListAPIView):
    """A member's view of the store's flash offers: approved, live or coming (anyone else:
    404). The price is charged only while the store has unlocked flash prices."""

    serializer_class = StoreFlashOfferOutput

    def get_queryset(self):
        return flash_offer_list_for_store(store_id=self.kwargs["store_id"], user=self.request.user)
