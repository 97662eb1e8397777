from django.contrib import admin

from shop.money import fen_display

from .models import Category, Product, Sku


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "deposit", "commission_min_bps", "commission_max_bps", "sort_order")
    search_fields = ("name",)

    @admin.display(description="Deposit standard", ordering="deposit_fen")
    def deposit(self, obj):
        return fen_display(obj.deposit_fen)


class SkuInline(admin.TabularInline):
    model = Sku
    fields = (
        "code",
        "spec",
        "price_fen",
        "team_price_fen",
        "team_size",
        "flash_price_fen",
        "on_hand",
        "reserved",
        "commission_bps",
    )
    readonly_fields = ("reserved",)
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("title", "merchant", "category", "status", "min_price_fen", "sales_count", "created_at")
    list_filter = ("status", "category")
    search_fields = ("title", "skus__code")
    raw_id_fields = ("merchant",)
    inlines = [SkuInline]


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "product", "merchant", "price_fen", "on_hand", "reserved", "commission_bps")
    search_fields = ("code", "product__title")
    raw_id_fields = ("product", "merchant")
    readonly_fields = ("reserved",)
