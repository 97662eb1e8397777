"""Ops' side of merchants: review applications, deduct deposits, handle exits and refunds,
look at every deposit movement and stock upload, and run a stock import for a merchant.
Every action calls a service; nothing here sets a status or a balance by hand."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from products.adminkit import action_form
from shop.audit.admin_actions import audit_decision, audited
from shop.audit.models import AuditEntry
from shop.errors import ApplicationError
from shop.money import fen_display

from .models import (
    DEPOSIT_REFUND_PURPOSE,
    DepositMovement,
    Merchant,
    MerchantStaff,
    MerchantStaffInvitation,
    StockUpload,
)
from .registry import open_after_sales_count, open_dispute_count
from .selectors import deposit_refund_list, merchant_deposit_balance
from .services import (
    deposit_deduct,
    deposit_refund_start,
    merchant_exit_cancel,
    merchant_exit_request,
    merchant_review,
    stock_upload_run,
)
from .services.exit import refund_due_at


class StaffInline(admin.TabularInline):
    model = MerchantStaff
    raw_id_fields = ("user",)
    extra = 0


class MovementInline(admin.TabularInline):
    model = DepositMovement
    fk_name = "merchant"
    extra = 0
    can_delete = False
    ordering = ("-id",)
    fields = ("created_at", "kind", "amount", "balance_after", "reason_code", "note", "actor", "buyer")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.display(description="Balance after")
    def balance_after(self, obj):
        return fen_display(obj.balance_after_fen)

    def has_add_permission(self, request, obj=None):
        return False


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The applicant sees this: say what is missing or wrong and how to fix it.",
    )


class DeductForm(forms.Form):
    amount_fen = forms.IntegerField(min_value=1, label="Amount (fen)", help_text="100 fen = ¥1.")
    reason_code = forms.ChoiceField(
        choices=[(c, DepositMovement.Reason(c).label) for c in DepositMovement.VIOLATIONS], label="Violation"
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What happened (order, dates). The merchant sees it.",
    )
    order_ref = forms.IntegerField(required=False, min_value=1, label="Order id", help_text="Optional.")
    buyer_id = forms.IntegerField(
        required=False,
        min_value=1,
        label="Compensate buyer (user id)",
        help_text="Optional: the affected buyer.",
    )
    compensation_fen = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        label="Compensation (fen)",
        help_text="Part of the amount paid into the buyer's wallet; the rest is platform revenue.",
    )
    request_key = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)

    def clean(self):
        data = super().clean()
        comp = data.get("compensation_fen") or 0
        if comp and not data.get("buyer_id"):
            self.add_error("buyer_id", "Name the buyer who receives the compensation.")
        if data.get("buyer_id") and not get_user_model().objects.filter(pk=data["buyer_id"]).exists():
            self.add_error("buyer_id", "No such user.")
        if data.get("amount_fen") and comp > data["amount_fen"]:
            self.add_error("compensation_fen", "Cannot exceed the amount deducted.")
        return data


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = (
        "company_name",
        "licence_no",
        "status",
        "sub_mchid",
        "deposit",
        "disputes_open",
        "reviewed_at",
        "exit_requested_at",
        "created_at",
    )
    list_filter = ("status", "categories")
    search_fields = ("company_name", "licence_no", "contact_phone", "sub_mchid")
    readonly_fields = (
        "status",
        "rejection_reason",
        "reviewed_at",
        "reviewed_by",
        "applicant",
        "deposit",
        "refund_due",
        "deposit_refunds",
        "exit_requested_at",
        "closed_at",
    )
    filter_horizontal = ("categories",)
    inlines = [StaffInline, MovementInline]
    actions = ("approve", "reject", "deduct_deposit", "request_exit", "cancel_exit", "refund_deposit_now")

    @admin.display(description="Deposit held")
    def deposit(self, obj):
        return fen_display(merchant_deposit_balance(merchant_id=obj.pk))

    @admin.display(description="Open disputes")
    def disputes_open(self, obj):
        return open_dispute_count(obj.pk)

    @admin.display(description="Deposit refund due")
    def refund_due(self, obj):
        due = refund_due_at(obj)
        return timezone.localtime(due).strftime("%Y-%m-%d %H:%M") if due else "—"

    @admin.display(description="Deposit refunds (gateway)")
    def deposit_refunds(self, obj):
        """Each part of each exit refund, linked to the payments refund page (its attempts,
        failure and the gateway's answer). A failed part went back into the deposit."""
        refunds = deposit_refund_list(merchant_id=obj.pk).order_by("-pk")[:20]
        if not refunds:
            return "—"
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 - a constant
            '<a href="{}">{}</a> {} — {}',
            (
                (
                    reverse("admin:payments_refund_change", args=[r.pk]),
                    r.out_refund_no,
                    fen_display(r.amount_fen),
                    r.get_status_display() + (f" ({r.failure_reason})" if r.failure_reason else ""),
                )
                for r in refunds
            ),
        )

    def _each(self, request, queryset, fn, done_message: str, *, reason: str | None = None) -> None:
        """Run ``fn`` on each merchant as one audited decision (``fn`` returning False: it did
        nothing, and nothing is recorded); refusals are reported and the others go on."""
        done = 0
        for merchant in queryset.order_by("pk"):
            try:
                with audit_decision(request, merchant, reason=reason) as decision:
                    if fn(merchant) is False:
                        decision.skip()
                        continue
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{merchant}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, done_message.format(done=done), messages.SUCCESS)

    @admin.action(description="Approve the selected applications")
    @audited("merchant.approve")
    def approve(self, request, queryset):
        def approve_one(merchant):
            if merchant.status == Merchant.Status.APPROVED:
                return False  # the service's no-op: nothing decided, nothing recorded
            return merchant_review(merchant_id=merchant.pk, approve=True, reviewer=request.user)

        self._each(request, queryset, approve_one, "Approved {done} merchant(s).")

    @admin.action(description="Reject the selected applications (asks for a reason)")
    @audited("merchant.reject")
    def reject(self, request, queryset):
        def apply(data):
            self._each(
                request,
                queryset,
                lambda m: merchant_review(
                    merchant_id=m.pk, approve=False, reviewer=request.user, reason=data["reason"]
                ),
                "Rejected {done} application(s).",
                reason=data["reason"],
            )

        return action_form(
            self,
            request,
            queryset,
            form_class=RejectForm,
            title="Reject applications",
            submit_label="Reject",
            apply=apply,
            action="reject",
        )

    @admin.action(description="Deduct from the deposit for a violation (one merchant)")
    @audited("merchant.deposit_deduct")
    def deduct_deposit(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one merchant to deduct from.", messages.ERROR)
            return None
        merchant = queryset.get()
        balance = merchant_deposit_balance(merchant_id=merchant.pk)

        def apply(data):
            details = {
                "amount_fen": data["amount_fen"],
                "reason_code": data["reason_code"],
                "order_id": data.get("order_ref"),
                "buyer_id": data.get("buyer_id"),
                "compensation_fen": data.get("compensation_fen") or 0,
            }
            reason = DepositMovement.Reason(data["reason_code"]).label + (
                f": {data['note']}" if data["note"] else ""
            )
            try:
                with audit_decision(request, merchant, reason=reason, details=details) as decision:
                    movement = deposit_deduct(
                        merchant_id=merchant.pk,
                        amount_fen=data["amount_fen"],
                        reason_code=data["reason_code"],
                        note=data["note"],
                        actor=request.user,
                        buyer_id=data.get("buyer_id"),
                        compensation_fen=data.get("compensation_fen") or 0,
                        order_ref=data.get("order_ref"),
                        request_key=data["request_key"],
                    )
                    decision.details["movement_id"] = movement.pk
                    if AuditEntry.objects.filter(
                        action="merchant.deposit_deduct", details__movement_id=movement.pk
                    ).exists():
                        decision.skip()  # a double-submitted form: the first one was recorded
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            self.message_user(
                request,
                f"Deducted {fen_display(-movement.amount_fen)} from {merchant}; deposit now "
                f"{fen_display(movement.balance_after_fen)}, {movement.suspended_products_count} listing(s) "
                "suspended. The merchant was notified.",
                messages.SUCCESS,
            )

        return action_form(
            self,
            request,
            queryset,
            form_class=DeductForm,
            title=f"Deduct from the deposit of {merchant} (holds {fen_display(balance)})",
            submit_label="Deduct",
            apply=apply,
            action="deduct_deposit",
            intro=(
                "The merchant's staff are notified with the reason. If the deposit falls below a "
                "category's standard, its listings there are suspended until it is topped up."
            ),
        )

    @admin.action(
        description="Close the shop: the merchant leaves (listings off sale, deposit refunded later; "
        "asks for a reason)"
    )
    @audited("merchant.exit_request", ask_reason=True)
    def request_exit(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda m: merchant_exit_request(merchant_id=m.pk, actor=request.user),
            "{done} merchant(s) are now leaving; deposits are refunded after the cool-off.",
        )

    @admin.action(description="Withdraw the exit (before the refund has started)")
    @audited("merchant.exit_cancel")
    def cancel_exit(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda m: merchant_exit_cancel(merchant_id=m.pk, actor=request.user),
            "{done} merchant(s) stay; they republish their listings themselves.",
        )

    @admin.action(description="Refund the deposit now (cool-off passed; retries after a failed refund)")
    @audited("merchant.deposit_refund")
    def refund_deposit_now(self, request, queryset):
        def start(merchant):
            after_sales = open_after_sales_count(merchant.pk)
            if after_sales:
                self.message_user(
                    request, f"{merchant}: {after_sales} after-sales case(s) open.", messages.ERROR
                )
                return False
            movement = deposit_refund_start(merchant_id=merchant.pk, actor=request.user)
            return None if movement is None else True

        self._each(
            request,
            queryset,
            start,
            "Started {done} refund(s); follow them under Payments › Refunds "
            f"(purpose {DEPOSIT_REFUND_PURPOSE}) or on each merchant's page.",
        )


@admin.register(MerchantStaff)
class MerchantStaffAdmin(admin.ModelAdmin):
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__nickname", "user__username", "merchant__company_name")
    raw_id_fields = ("user", "merchant")


@admin.register(DepositMovement)
class DepositMovementAdmin(admin.ModelAdmin):
    """The deposit's audit trail. Rows are written by services only."""

    list_display = (
        "created_at",
        "merchant",
        "kind",
        "amount",
        "balance_after",
        "reason_code",
        "actor",
        "buyer",
        "compensation",
        "suspended_products_count",
    )
    list_filter = ("kind", "reason_code")
    search_fields = ("merchant__company_name", "note", "ledger_key")
    date_hierarchy = "created_at"
    list_select_related = ("merchant", "actor", "buyer")
    readonly_fields = [f.name for f in DepositMovement._meta.fields]

    @admin.display(description="Amount", ordering="amount_fen")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.display(description="Balance after")
    def balance_after(self, obj):
        return fen_display(obj.balance_after_fen)

    @admin.display(description="To buyer")
    def compensation(self, obj):
        return fen_display(obj.compensation_fen) if obj.compensation_fen else "—"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StockImportForm(forms.Form):
    merchant = forms.ModelChoiceField(
        queryset=Merchant.objects.filter(
            status__in=[Merchant.Status.APPROVED, Merchant.Status.EXITING]
        ).order_by("company_name")
    )
    file = forms.FileField(help_text="CSV (UTF-8 or GBK) or XLSX with the columns sku_code and stock.")
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Only check the file; change nothing."
    )


@admin.register(StockUpload)
class StockUploadAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "merchant",
        "filename",
        "via",
        "actor",
        "dry_run",
        "status",
        "rows",
        "applied",
        "changed",
        "error_count",
    )
    list_filter = ("status", "via", "dry_run")
    search_fields = ("merchant__company_name", "filename")
    date_hierarchy = "created_at"
    list_select_related = ("merchant", "actor")
    readonly_fields = [f.name for f in StockUpload._meta.fields]
    change_list_template = "admin/merchants/stockupload/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = super().get_urls()
        extra = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="merchants_stockupload_import",
            )
        ]
        return extra + urls

    def import_view(self, request):
        result: dict = {}

        def apply(data):
            upload = data["file"]
            try:
                record = stock_upload_run(
                    merchant_id=data["merchant"].pk,
                    fileobj=upload.file,
                    filename=upload.name,
                    size=upload.size,
                    actor=request.user,
                    dry_run=data["dry_run"],
                    via=StockUpload.Via.ADMIN,
                )
            except ApplicationError as exc:
                self.message_user(request, f"File refused, nothing applied: {exc.message}", messages.ERROR)
                result["url"] = reverse("admin:merchants_stockupload_changelist")
                return
            verb = "would apply" if record.dry_run else "applied"
            self.message_user(
                request,
                f"{record.rows} rows read: {verb} {record.valid}, {record.changed} SKU(s) changed, "
                f"{record.error_count} bad row(s) (listed below).",
                messages.WARNING if record.error_count else messages.SUCCESS,
            )
            result["url"] = reverse("admin:merchants_stockupload_change", args=[record.pk])

        response = action_form(
            self,
            request,
            None,
            form_class=StockImportForm,
            title="Import a stock file for a merchant",
            submit_label="Import",
            apply=apply,
            intro=(
                "Sets the absolute on-hand stock of the merchant's SKUs, exactly as the merchant's own "
                "upload does. Good rows apply; bad rows are reported with their line."
            ),
            cancel_url=reverse("admin:merchants_stockupload_changelist"),
        )
        return response if response is not None else redirect(result["url"])


@admin.register(MerchantStaffInvitation)
class MerchantStaffInvitationAdmin(admin.ModelAdmin):
    """Who invited whom, in which role, and whether it was used. Read-only: invitations are
    made by owners and accepted by the person (only the code's hash is kept)."""

    list_display = (
        "merchant",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_by",
        "accepted_at",
    )
    list_filter = ("role",)
    search_fields = ("merchant__company_name", "invited_by__nickname", "accepted_by__nickname")
    raw_id_fields = ("merchant", "invited_by", "accepted_by")
    readonly_fields = ("code_hash",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
