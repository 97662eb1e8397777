from rest_framework import serializers

from products.models import Category, Product, Sku
from shop.api.serializers import ModelSerializer


class CategoryOutput(ModelSerializer):
    parent_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Category
        fields = ("id", "name", "parent_id")


class SkuOutput(ModelSerializer):
    stock = serializers.IntegerField(source="available", help_text="Units available to order.")
    flash_price_fen = serializers.SerializerMethodField(
        help_text="The live flash offer's price the caller gets through ``?store_id=`` (a member of "
        "that store, flash prices unlocked); null otherwise."
    )

    class Meta:
        model = Sku
        fields = ("id", "spec", "price_fen", "team_price_fen", "team_size", "flash_price_fen", "stock")

    def get_flash_price_fen(self, sku) -> int | None:
        return self.context.get("flash_prices", {}).get(sku.pk)


class ProductListOutput(ModelSerializer):
    """The list's shape; the list view returns ``products.selectors.LIST_FIELDS`` rows of it
    directly (the hottest read: no per-row serializer)."""

    category_id = serializers.IntegerField()
    images = serializers.ListField(child=serializers.CharField(), help_text="Image URLs, in display order.")

    class Meta:
        model = Product
        fields = ("id", "title", "category_id", "images", "min_price_fen", "sales_count")


class ProductDetailOutput(ProductListOutput):
    skus = SkuOutput(many=True)
    merchant_id = serializers.IntegerField()

    class Meta(ProductListOutput.Meta):
        fields = (*ProductListOutput.Meta.fields, "description", "merchant_id", "skus")
