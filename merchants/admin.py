from django.contrib import admin, messages

from shop.money import fen_display

from .models import Merchant, MerchantStaff
from .selectors import merchant_deposit_balance
from .services import merchant_review


class StaffInline(admin.TabularInline):
    model = MerchantStaff
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("company_name", "licence_no", "status", "deposit", "reviewed_at", "created_at")
    list_filter = ("status", "categories")
    search_fields = ("company_name", "licence_no", "contact_phone")
    readonly_fields = ("status", "reviewed_at", "reviewed_by", "applicant")
    filter_horizontal = ("categories",)
    inlines = [StaffInline]
    actions = ("approve", "reject")

    @admin.display(description="Deposit held")
    def deposit(self, obj):
        return fen_display(merchant_deposit_balance(merchant_id=obj.pk))

    @admin.action(description="Approve the selected applications")
    def approve(self, request, queryset):
        for merchant in queryset:
            merchant_review(merchant_id=merchant.pk, approve=True, reviewer=request.user)
        self.message_user(request, f"Approved {queryset.count()} merchant(s).", messages.SUCCESS)

    @admin.action(description="Reject the selected applications (reason: incomplete documents)")
    def reject(self, request, queryset):
        for merchant in queryset:
            merchant_review(
                merchant_id=merchant.pk,
                approve=False,
                reviewer=request.user,
                reason="Incomplete or invalid documents.",
            )
        self.message_user(request, f"Rejected {queryset.count()} application(s).", messages.WARNING)
