from django.contrib import admin

from shop.money import fen_display

from .models import Payment, PaymentAnomaly, Payout


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "out_trade_no",
        "purpose",
        "payer",
        "amount",
        "gateway",
        "status",
        "paid_at",
        "created_at",
    )
    list_filter = ("status", "purpose", "gateway")
    search_fields = ("out_trade_no", "gateway_txn_id", "payer__nickname")
    readonly_fields = [f.name for f in Payment._meta.fields]
    date_hierarchy = "created_at"

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def has_add_permission(self, request):
        return False


@admin.register(PaymentAnomaly)
class PaymentAnomalyAdmin(admin.ModelAdmin):
    list_display = ("payment", "kind", "reported_amount_fen", "gateway_txn_id", "is_resolved", "created_at")
    list_filter = ("kind", "is_resolved")
    readonly_fields = ("payment", "kind", "gateway_txn_id", "reported_amount_fen", "payload", "created_at")


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    """Transfers to users' WeChat balance. Retry lives on the purpose (e.g. withdrawals),
    which decides whether the money can be held again."""

    list_display = (
        "out_bill_no",
        "purpose",
        "ref_id",
        "payee",
        "amount",
        "gateway",
        "state",
        "attempts",
        "created_at",
    )
    list_filter = ("state", "purpose", "gateway")
    search_fields = ("out_bill_no", "transfer_bill_no", "payee__nickname")
    readonly_fields = [f.name for f in Payout._meta.fields]
    date_hierarchy = "created_at"

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
