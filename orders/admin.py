from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from shop.errors import ApplicationError
from shop.money import fen_display

from .models import AfterSale, AfterSaleItem, Order, OrderEvent, OrderItem
from .services.after_sales import after_sale_arbitrate
from .services.refunds import order_refund_full


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
    actions = ["refund_in_full"]

    @admin.action(description="Refund in full (ops ruling; claws back settled commission)")
    def refund_in_full(self, request, queryset):
        done = 0
        for order in queryset.order_by("pk"):
            try:
                order_refund_full(
                    order_id=order.pk,
                    reason=f"Refunded by ops ({request.user})",
                    actor=request.user,
                    by_ops=True,
                )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"Order {order.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} order(s) refunded; the money goes back through the gateway.")

    @admin.display(description="Paid", ordering="paid_fen")
    def paid(self, obj):
        return fen_display(obj.paid_fen)

    def has_add_permission(self, request):
        return False


class RulingForm(ActionForm):
    note = forms.CharField(
        required=False, max_length=255, label="Ruling note (shown to the buyer and merchant)"
    )


class AfterSaleItemInline(admin.TabularInline):
    model = AfterSaleItem
    extra = 0
    can_delete = False
    fields = ("order_item", "qty", "amount_fen")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AfterSale)
class AfterSaleAdmin(admin.ModelAdmin):
    """After-sales cases. Disputes (the merchant rejected, the buyer objected) wait here for a
    ruling; while one is open the merchant's deposit is frozen and the order cannot complete."""

    list_display = ("pk", "status", "kind", "order", "merchant", "buyer", "amount", "created_at")
    list_filter = ("status", "kind", "merchant")
    search_fields = ("pk", "order__pk", "buyer__nickname", "reason")
    list_select_related = ("order", "merchant", "buyer")
    readonly_fields = [f.name for f in AfterSale._meta.fields]
    inlines = [AfterSaleItemInline]
    action_form = RulingForm
    actions = ["rule_refund", "rule_close"]

    @admin.display(description="Amount asked", ordering="amount_fen")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def has_add_permission(self, request):
        return False

    def _rule(self, request, queryset, *, refund: bool):
        note = request.POST.get("note", "")
        done, refused = 0, []
        for case in queryset.order_by("pk"):
            try:
                after_sale_arbitrate(case_id=case.pk, refund=refund, actor=request.user, note=note)
                done += 1
            except ApplicationError as exc:
                refused.append(f"case {case.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{done} case(s) ruled.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Rule for the buyer: refund the amount asked")
    def rule_refund(self, request, queryset):
        self._rule(request, queryset, refund=True)

    @admin.action(description="Rule for the merchant: close without refund")
    def rule_close(self, request, queryset):
        self._rule(request, queryset, refund=False)
