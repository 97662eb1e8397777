"""Ops' view of payments and refunds. The refund list filtered on "Failed" is the ops queue:
money owed back to payers that the gateway did not pay out, waiting in refund clearing."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from shop.audit.admin_actions import audit_decision, audited
from shop.errors import ApplicationError
from shop.money import fen_display

from .models import (
    AnomalyPart,
    BillImport,
    FundsStep,
    Payment,
    PaymentAnomaly,
    PaymentPart,
    Payout,
    ReconciliationCase,
    Refund,
)
from .reconciliation import case_apply_missed, case_explain, cases_open_count
from .refunds import refund_resend
from .registry import refund_purposes_returning_failed_money


class PaymentPartInline(admin.TabularInline):
    model = PaymentPart
    extra = 0
    can_delete = False
    fields = (
        "order_id",
        "merchant_id",
        "sub_mchid",
        "out_trade_no",
        "amount_fen",
        "subsidy_fen",
        "transaction_id",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "out_trade_no",
        "purpose",
        "payer",
        "amount",
        "gateway",
        "funds",
        "status",
        "paid_at",
        "created_at",
    )
    # "Funds: platform account" with purpose order_checkout lists the orders paid into our own
    # account before profit sharing: they keep the old payable path (ops pay those merchants).
    list_filter = ("status", "purpose", "funds", "gateway")
    search_fields = ("out_trade_no", "gateway_txn_id", "payer__nickname", "parts__out_trade_no")
    readonly_fields = [f.name for f in Payment._meta.fields]
    date_hierarchy = "created_at"
    inlines = [PaymentPartInline]

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def has_add_permission(self, request):
        return False


def _refund_link(refund: Refund | None) -> str:
    if refund is None:
        return "—"
    url = reverse("admin:payments_refund_change", args=[refund.pk])
    return format_html(
        '<a href="{}">{} — {}</a>', url, fen_display(refund.amount_fen), refund.get_status_display()
    )


class AnomalyPartInline(admin.TabularInline):
    """A shared payment's anomaly: each reported part and its automatic refund from that
    merchant's funds (``parts_anomalies``)."""

    model = AnomalyPart
    extra = 0
    can_delete = False
    fields = ("sub_mchid", "merchant_id", "out_trade_no", "transaction_id", "amount_fen", "refund_state")
    readonly_fields = fields

    @admin.display(description="Automatic refund")
    def refund_state(self, obj):
        return _refund_link(obj.refund)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PaymentAnomaly)
class PaymentAnomalyAdmin(admin.ModelAdmin):
    list_display = (
        "payment",
        "kind",
        "reported_amount_fen",
        "gateway_txn_id",
        "refund_state",
        "is_resolved",
        "created_at",
    )
    list_filter = ("kind", "is_resolved", "refund__status")
    list_select_related = ("payment", "refund")
    readonly_fields = (
        "payment",
        "kind",
        "gateway_txn_id",
        "reported_amount_fen",
        "refund_state",
        "payload",
        "created_at",
    )
    exclude = ("refund",)
    inlines = [AnomalyPartInline]  # a shared payment's: a refund per part, not one ``refund``

    @admin.display(description="Automatic refund")
    def refund_state(self, obj):
        return _refund_link(obj.refund)

    def has_add_permission(self, request):
        return False


class OpsQueueFilter(admin.SimpleListFilter):
    title = "ops queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("failed", "Failed: money waiting to go back (act on these)"),
            ("resendable", "Failed and can be sent again"),
            ("abnormal", "Abnormal: handle on the WeChat Pay merchant platform"),
        ]

    def queryset(self, request, queryset):
        if self.value() in ("failed", "resendable"):
            # A purpose that took a refused or closed refund's money back (a deposit refund: into
            # the deposit) handles it itself: nothing of it waits in refund clearing.
            queryset = queryset.exclude(
                Q(purpose__in=refund_purposes_returning_failed_money())
                & ~Q(failure_kind=Refund.FailureKind.ABNORMAL)
            )
        if self.value() == "failed":
            return queryset.filter(status=Refund.Status.FAILED)
        if self.value() == "resendable":
            return queryset.filter(status=Refund.Status.FAILED).exclude(
                failure_kind=Refund.FailureKind.ABNORMAL
            )
        if self.value() == "abnormal":
            return queryset.filter(status=Refund.Status.FAILED, failure_kind=Refund.FailureKind.ABNORMAL)
        return queryset


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "out_refund_no",
        "purpose",
        "ref_id",
        "payment",
        "amount",
        "status",
        "failure_kind",
        "failure_reason",
        "attempts",
        "resends",
        "last_attempt_at",
        "created_at",
    )
    list_filter = (OpsQueueFilter, "status", "purpose", "payment__gateway", "failure_kind")
    list_select_related = ("payment",)
    search_fields = ("out_refund_no", "gateway_refund_id", "key", "payment__out_trade_no")
    readonly_fields = [f.name for f in Refund._meta.fields]
    date_hierarchy = "created_at"
    actions = ("send_again",)

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Send the refund again (after fixing why it failed)")
    @audited("refund.resend")
    def send_again(self, request, queryset):
        sent = 0
        for refund in queryset.order_by("pk"):
            details = {"amount_fen": refund.amount_fen, "failure_reason": refund.failure_reason}
            try:
                with audit_decision(request, refund, details=details) as decision:
                    resent = refund_resend(refund_id=refund.pk)
                    decision.details["out_refund_no"] = resent.out_refund_no
                sent += 1
            except ApplicationError as exc:
                self.message_user(request, f"{refund.out_refund_no}: {exc.message}", messages.ERROR)
        if sent:
            self.message_user(
                request,
                f"Sent {sent} refund(s) to the gateway again; the list shows their new state.",
                messages.SUCCESS,
            )


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


class CaseActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason (for “mark explained”)",
        widget=forms.TextInput(attrs={"size": 50}),
    )


@admin.register(ReconciliationCase)
class ReconciliationCaseAdmin(admin.ModelAdmin):
    """Differences between the gateway's bills and our records. Open cases are ops' queue (the
    list's title counts them); each action calls a service that resolves a case once."""

    list_display = (
        "bill_date",
        "bill_kind",
        "kind",
        "key",
        "our_amount",
        "bill_amount",
        "our_state",
        "bill_state",
        "status",
        "resolution",
        "resolved_by",
    )
    list_filter = ("status", "kind", "bill_kind", "matcher", "gateway", "resolution", "bill_date")
    search_fields = ("key",)
    readonly_fields = [f.name for f in ReconciliationCase._meta.fields]
    date_hierarchy = "bill_date"
    action_form = CaseActionForm
    actions = ("apply_missed", "mark_explained")

    @admin.display(description="Our amount")
    def our_amount(self, obj):
        return "—" if obj.our_amount_fen is None else fen_display(obj.our_amount_fen)

    @admin.display(description="Bill amount")
    def bill_amount(self, obj):
        return "—" if obj.bill_amount_fen is None else fen_display(obj.bill_amount_fen)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": f"Reconciliation cases — {cases_open_count()} open",
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Apply the missed callback after re-querying the gateway")
    @audited("reconciliation.apply_missed")
    def apply_missed(self, request, queryset):
        self._each(
            request, queryset, lambda case: case_apply_missed(case_id=case.pk, actor_id=request.user.pk)
        )

    @admin.action(description="Mark explained (give the reason in the box)")
    @audited("reconciliation.explain")
    def mark_explained(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Give the reason in the box next to the action.", messages.ERROR)
            return
        self._each(
            request,
            queryset,
            lambda case: case_explain(case_id=case.pk, actor_id=request.user.pk, reason=reason),
        )

    def _each(self, request, queryset, resolve) -> None:
        done = 0
        for case in queryset.filter(status=ReconciliationCase.Status.OPEN).order_by("pk"):
            try:
                resolved = resolve(case)
            except ApplicationError as exc:
                self.message_user(request, f"{case.key}: {exc.message}", messages.ERROR)
                continue
            done += 1
            self.message_user(request, f"{case.key}: {resolved.get_resolution_display()}. {resolved.note}")
        if done:
            self.message_user(request, f"Resolved {done} case(s).", messages.SUCCESS)


@admin.register(BillImport)
class BillImportAdmin(admin.ModelAdmin):
    """Every bill fetched (or waiting to be): ``manage.py reconcile_bills`` imports one again."""

    list_display = (
        "bill_date",
        "kind",
        "sub_mchid",
        "gateway",
        "status",
        "line_count",
        "case_count",
        "attempts",
        "next_attempt_at",
        "finished_at",
        "last_error",
    )
    list_filter = ("status", "kind", "gateway")
    readonly_fields = [f.name for f in BillImport._meta.fields]
    date_hierarchy = "bill_date"


@admin.register(FundsStep)
class FundsStepAdmin(admin.ModelAdmin):
    """Every gateway step of merchants' money. Filtered on "Failed for good" it is ops' case
    list: each says why in ``last_error``; "Send again" resends it under the same number (the
    gateway applies a number once, so a resend can never move money twice)."""

    list_display = (
        "out_no",
        "kind",
        "status",
        "order_id",
        "merchant_id",
        "amount",
        "attempts",
        "next_attempt_at",
        "last_error",
        "confirmed_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("out_no", "gateway_id", "=order_id", "=merchant_id")
    readonly_fields = [f.name for f in FundsStep._meta.fields]
    actions = ("send_again",)
    date_hierarchy = "created_at"

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.action(description="Send the selected failed steps again")
    @audited("funds_step.retry")
    def send_again(self, request, queryset):
        from .steps import funds_step_retry

        sent = 0
        for step in queryset.order_by("pk"):
            with audit_decision(request, step, details={"amount_fen": step.amount_fen}) as decision:
                if funds_step_retry(step_id=step.pk):
                    sent += 1
                else:
                    decision.skip()  # not failed
        self.message_user(request, f"{sent} step(s) sent again.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
