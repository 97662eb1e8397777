from django.contrib import admin

from .models import Accrual


@admin.register(Accrual)
class AccrualAdmin(admin.ModelAdmin):
    list_display = (
        "order",
        "kind",
        "beneficiary",
        "amount_fen",
        "cancelled_fen",
        "clawed_back_fen",
        "status",
        "settled_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("order__id", "beneficiary__nickname")
    raw_id_fields = ("order", "order_item", "store", "beneficiary")
    readonly_fields = [f.name for f in Accrual._meta.fields]

    def has_add_permission(self, request):
        return False
