"""Read-only ledger browser for ops: accounts with balances, transactions with their
entries, and what the platform owes each merchant. Nothing here can change money."""

from django.contrib import admin
from django.db.models import Q

from shop.money import fen_display

from .models import Account, Entry, MerchantBalance, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written only by services; ops browse it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccountEntryInline(admin.TabularInline):
    model = Entry
    fields = ("transaction", "amount", "created")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Latest movements"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("transaction")

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.display(description="When")
    def created(self, obj):
        return obj.transaction.created_at


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "owner_type", "owner_id", "balance")
    list_filter = ("kind", "owner_type")
    search_fields = ("owner_id",)
    ordering = ("kind", "owner_type", "owner_id")
    inlines = [AccountEntryInline]

    @admin.display(description="Balance", ordering="balance_fen")
    def balance(self, obj):
        return fen_display(obj.balance_fen)


@admin.register(MerchantBalance)
class MerchantBalanceAdmin(ReadOnlyAdmin):
    """What each merchant is owed: ``payable`` (settled orders) and ``receivable`` (orders
    not yet completed, after commission)."""

    list_display = ("merchant", "kind", "balance")
    list_filter = ("kind",)
    search_fields = ("owner_id",)
    ordering = ("-balance_fen",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(owner_type=Account.OwnerType.MERCHANT)
            .filter(Q(kind=Account.Kind.MERCHANT_PAYABLE) | Q(kind=Account.Kind.MERCHANT_RECEIVABLE))
        )

    @admin.display(description="Merchant", ordering="owner_id")
    def merchant(self, obj):
        return f"Merchant #{obj.owner_id}"

    @admin.display(description="Owed", ordering="balance_fen")
    def balance(self, obj):
        return fen_display(obj.balance_fen)


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "memo", "ref_type", "ref_id", "idempotency_key", "created_at")
    list_filter = ("kind", "ref_type")
    search_fields = ("idempotency_key", "memo", "=ref_id")
    date_hierarchy = "created_at"
    inlines = [EntryInline]
