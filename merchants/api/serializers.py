"""Output shapes of the merchant console (one per resource); inputs stay nested in the views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from products.models import Product, Sku
from shop.api.serializers import ModelSerializer, Serializer

from ..models import DepositMovement, MerchantStaff, StockUpload


class MerchantSkuOutput(ModelSerializer):
    """Merchant-side SKUs always show ``code`` and ``commission_bps`` (docs/api.md)."""

    stock = serializers.IntegerField(
        source="available", help_text="Units available to order (on hand − reserved)."
    )

    class Meta:
        model = Sku
        fields = (
            "id",
            "product_id",
            "code",
            "spec",
            "price_fen",
            "team_price_fen",
            "team_size",
            "commission_bps",
            "on_hand",
            "reserved",
            "stock",
            "sales_count",
        )


class MerchantProductOutput(ModelSerializer):
    category_id = serializers.IntegerField()
    images = serializers.ListField(child=serializers.CharField(), help_text="Image URLs, in display order.")
    skus = MerchantSkuOutput(many=True)

    class Meta:
        model = Product
        fields = (
            "id",
            "title",
            "description",
            "category_id",
            "images",
            "status",
            "status_reason",
            "min_price_fen",
            "sales_count",
            "created_at",
            "updated_at",
            "skus",
        )


class UploadErrorOutput(Serializer):
    line = serializers.IntegerField()
    code = serializers.CharField()
    reason = serializers.CharField()


# Another merchant's code is reported like an unknown one: a merchant must not learn
# which codes its competitors use. Ops see the difference in admin.
_PUBLIC_ERROR_CODES = {"other_merchant_sku": "unknown_sku"}


class StockUploadOutput(ModelSerializer):
    errors = serializers.SerializerMethodField()
    errors_truncated = serializers.SerializerMethodField()

    class Meta:
        model = StockUpload
        fields = (
            "id",
            "filename",
            "file_format",
            "encoding",
            "dry_run",
            "status",
            "rows",
            "valid",
            "applied",
            "changed",
            "error_count",
            "errors",
            "errors_truncated",
            "rejection_code",
            "rejection_reason",
            "created_at",
        )

    @extend_schema_field(UploadErrorOutput(many=True))
    def get_errors(self, obj: StockUpload) -> list[dict]:
        return [
            {
                "line": e["line"],
                "code": _PUBLIC_ERROR_CODES.get(e["code"], e["code"]),
                "reason": e["reason"],
            }
            for e in obj.errors
        ]

    def get_errors_truncated(self, obj: StockUpload) -> bool:
        return obj.error_count > len(obj.errors)


class DepositMovementOutput(ModelSerializer):
    class Meta:
        model = DepositMovement
        fields = (
            "id",
            "kind",
            "amount_fen",
            "balance_after_fen",
            "reason_code",
            "note",
            "compensation_fen",
            "order_ref",
            "suspended_products_count",
            "restored_products_count",
            "created_at",
        )


class StaffOutput(ModelSerializer):
    user_id = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")

    class Meta:
        model = MerchantStaff
        fields = ("id", "user_id", "nickname", "role", "created_at")


class StaffInvitationOutput(Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="Shown once: pass it to the person, who accepts it.")
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()
