"""Ops' view of rebates: accruals, settlement runs, red-envelope campaigns, envelopes and
claims, withdrawals (with retry). Actions call services; nothing here sets money fields."""

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from shop.audit.admin_actions import audit_decision, audited
from shop.errors import ApplicationError
from shop.money import fen_display
from shop.payments.payouts import payout_retry

from .models import (
    Accrual,
    MerchantStatement,
    MerchantStatementLine,
    OrderSettlement,
    RedEnvelope,
    RedEnvelopeCampaign,
    RedEnvelopeClaim,
    SettlementRun,
    Withdrawal,
)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(SettlementRun)
class SettlementRunAdmin(ReadOnly):
    list_display = (
        "pk",
        "started_at",
        "finished_at",
        "outcome",
        "orders_requested",
        "orders_settled",
        "commission",
        "owed_to_merchants",
        "envelopes_count",
    )
    list_filter = ("outcome",)
    date_hierarchy = "started_at"

    @admin.display(description="Commission settled")
    def commission(self, obj):
        return fen_display(obj.commission_fen)

    @admin.display(description="Now owed to merchants")
    def owed_to_merchants(self, obj):
        return fen_display(obj.merchant_payable_fen)


@admin.register(OrderSettlement)
class OrderSettlementAdmin(ReadOnly):
    list_display = (
        "order",
        "merchant_id",
        "commission_fen",
        "merchant_payable_fen",
        "platform_fee_fen",
        "settled_at",
    )
    search_fields = ("=order__id", "=merchant_id")
    raw_id_fields = ("order", "run")


@admin.register(RedEnvelopeCampaign)
class RedEnvelopeCampaignAdmin(admin.ModelAdmin):
    """Ops set up a budget; envelopes are paid from the marketing budget while it lasts.
    Spending is done by settlement only, so ``spent`` is shown, never edited."""

    list_display = ("name", "is_active", "budget", "spent", "envelope", "shares", "starts_at", "ends_at")
    list_filter = ("is_active",)
    filter_horizontal = ("stores",)
    readonly_fields = ("spent_fen",)
    fields = (
        "name",
        "is_active",
        "budget_fen",
        "spent_fen",
        "envelope_fen",
        "shares",
        "stores",
        "starts_at",
        "ends_at",
    )

    @admin.display(description="Budget")
    def budget(self, obj):
        return fen_display(obj.budget_fen)

    @admin.display(description="Spent")
    def spent(self, obj):
        return fen_display(obj.spent_fen)

    @admin.display(description="Each envelope")
    def envelope(self, obj):
        return fen_display(obj.envelope_fen)

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.envelopes.exists()


class ClaimInline(admin.TabularInline):
    model = RedEnvelopeClaim
    fields = ("user", "amount_fen", "claimed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RedEnvelope)
class RedEnvelopeAdmin(ReadOnly):
    list_display = ("pk", "store", "source", "campaign", "total", "shares", "claimed", "status", "expires_at")
    list_filter = ("status", "source")
    search_fields = ("=store__id", "=order__id")
    raw_id_fields = ("store", "order", "campaign")
    inlines = [ClaimInline]

    @admin.display(description="Total")
    def total(self, obj):
        return fen_display(obj.total_fen)

    @admin.display(description="Claimed")
    def claimed(self, obj):
        return f"{obj.claimed_count} / {obj.shares}"


@admin.register(RedEnvelopeClaim)
class RedEnvelopeClaimAdmin(ReadOnly):
    list_display = ("envelope", "user", "amount_fen", "claimed_at")
    search_fields = ("=envelope__id", "user__nickname")
    raw_id_fields = ("envelope", "user")


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnly):
    list_display = ("pk", "user", "amount", "status", "attempts", "payout", "failure_reason", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "user__nickname", "payout__out_bill_no")
    raw_id_fields = ("user", "payout")
    actions = ["retry_payout"]

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.action(description="Retry the payout (failed: a new transfer; unsent: send again)")
    @audited("withdrawal.payout_retry")
    def retry_payout(self, request, queryset):
        for withdrawal in queryset.select_related("payout"):
            if withdrawal.payout_id is None:
                continue
            details = {"amount_fen": withdrawal.amount_fen, "payout_id": withdrawal.payout_id}
            try:
                with audit_decision(request, withdrawal, details=details) as decision:
                    payout = payout_retry(payout_id=withdrawal.payout_id, actor=request.user)
                    decision.details["new_payout_id"] = payout.pk
            except ApplicationError as exc:
                self.message_user(request, f"Withdrawal #{withdrawal.pk}: {exc.message}", messages.WARNING)
            else:
                self.message_user(
                    request, f"Withdrawal #{withdrawal.pk}: payout sent again.", messages.SUCCESS
                )


INLINE_LINES = 200  # a day of a big merchant has 100,000s of lines: the rest in the lines list


class _FirstLines(BaseInlineFormSet):
    def get_queryset(self):
        return super().get_queryset().order_by("pk")[:INLINE_LINES]


class StatementLineInline(admin.TabularInline):
    model = MerchantStatementLine
    formset = _FirstLines
    fields = ("order_id", "kind", "amount_fen", "at", "entry")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f'lines (the first {INLINE_LINES}; all of them under "all lines")'

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MerchantStatement)
class MerchantStatementAdmin(ReadOnly):
    """Read-only: statements are written by the sweeper (``merchant_statements_write``)."""

    list_display = (
        "date",
        "merchant",
        "opening",
        "sales_fen",
        "released_fen",
        "closing",
        "held_fen",
        "all_lines",
    )
    list_filter = ("date",)
    search_fields = ("=merchant__id", "merchant__company_name")
    date_hierarchy = "date"
    raw_id_fields = ("merchant",)
    inlines = [StatementLineInline]

    @admin.display(description="Opening")
    def opening(self, obj):
        return fen_display(obj.opening_fen)

    @admin.display(description="Closing")
    def closing(self, obj):
        return fen_display(obj.closing_fen)

    @admin.display(description="All lines")
    def all_lines(self, obj):
        url = reverse("admin:rebates_merchantstatementline_changelist") + f"?statement__id__exact={obj.pk}"
        return format_html('<a href="{}">all lines</a>', url)


@admin.register(MerchantStatementLine)
class MerchantStatementLineAdmin(ReadOnly):
    list_display = ("statement", "order_id", "kind", "amount_fen", "at", "entry")
    list_filter = ("kind",)
    search_fields = ("=order_id", "=statement__id")
    raw_id_fields = ("statement", "entry")
    list_select_related = ("statement",)
