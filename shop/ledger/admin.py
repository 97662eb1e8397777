from django.contrib import admin

from shop.money import fen_display

from .models import Account, Entry, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written only by services; ops browse it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "owner_type", "owner_id", "balance")
    list_filter = ("kind", "owner_type")
    search_fields = ("owner_id",)

    @admin.display(description="Balance", ordering="balance_fen")
    def balance(self, obj):
        return fen_display(obj.balance_fen)


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "amount_fen")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "memo", "ref_type", "ref_id", "idempotency_key", "created_at")
    list_filter = ("kind", "ref_type")
    search_fields = ("idempotency_key", "memo")
    date_hierarchy = "created_at"
    inlines = [EntryInline]
