from django.contrib import admin

from shop.money import fen_display

from .models import Order, OrderEvent, OrderItem


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    can_delete = False
    fields = (
        "product_title",
        "spec",
        "qty",
        "price_kind",
        "list_price_fen",
        "unit_price_fen",
        "paid_fen",
        "refunded_fen",
        "commission_bps",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor", "note")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders change state only through services; ops read them here."""

    list_display = ("pk", "status", "buyer", "merchant", "store", "paid", "created_at", "paid_at")
    list_filter = ("status", "merchant")
    search_fields = ("pk", "buyer__nickname", "tracking_no", "payment__out_trade_no")
    date_hierarchy = "created_at"
    list_select_related = ("buyer", "merchant", "store")
    readonly_fields = [f.name for f in Order._meta.fields]
    inlines = [OrderItemInline, OrderEventInline]

    @admin.display(description="Paid", ordering="paid_fen")
    def paid(self, obj):
        return fen_display(obj.paid_fen)

    def has_add_permission(self, request):
        return False
