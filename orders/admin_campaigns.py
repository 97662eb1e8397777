"""Admin for coupon campaigns and the marketing budget (imported by ``orders/admin.py``).

Ops write a campaign as a draft, then launch it (the cap is reserved from the marketing
budget, or the launch is refused when the budget holds less); a launched campaign's terms
no longer change. Putting money into the marketing budget is an allocation from platform
revenue. Every change of money goes through ``orders/services/coupons.py``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from shop.audit.admin_actions import audit_decision, audited
from shop.audit.services import audit_record
from shop.errors import ApplicationError
from shop.ledger.models import Account
from shop.ledger.reconcile import platform_balance
from shop.money import fen_display

from .models import CouponCampaign, MarketingBudgetAllocation
from .services.coupons import coupon_campaign_close, coupon_campaign_launch, marketing_budget_allocate

TERMS = (
    "title",
    "audience",
    "store",
    "code",
    "amount_fen",
    "min_spend_fen",
    "valid_days",
    "starts_at",
    "ends_at",
    "cap_fen",
)


def _budget_line() -> str:
    return f"The marketing budget holds {fen_display(platform_balance(Account.Kind.MARKETING_BUDGET)[1])}."


class CouponCampaignForm(forms.ModelForm):
    class Meta:
        model = CouponCampaign
        fields = TERMS

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip().upper()
        return code or None

    def clean(self):
        data = super().clean()
        audience, amount, cap = data.get("audience"), data.get("amount_fen"), data.get("cap_fen")
        if audience == CouponCampaign.Audience.STORE_MEMBERS and not data.get("store"):
            self.add_error("store", "Choose the store whose members get the coupon.")
        if audience == CouponCampaign.Audience.CODE and not data.get("code"):
            self.add_error("code", "Give the code shoppers will type.")
        if audience != CouponCampaign.Audience.CODE and data.get("code"):
            self.add_error("code", "Only a campaign by code has a code.")
        if amount is not None and amount <= 0:
            self.add_error("amount_fen", "The amount must be at least 1 fen.")
        if data.get("min_spend_fen") is not None and data["min_spend_fen"] < 0:
            self.add_error("min_spend_fen", "The minimum spend cannot be negative.")
        if amount and cap is not None and cap < amount:
            self.add_error("cap_fen", "The cap must pay for at least one coupon.")
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The campaign must end after it starts.")
        if data.get("valid_days") == 0:
            self.add_error("valid_days", "A coupon must be valid at least one day.")
        return data


@admin.register(CouponCampaign)
class CouponCampaignAdmin(admin.ModelAdmin):
    """Coupon campaigns. Write one as a draft, then launch it from the list ("Launch"):
    its cap is then taken from the marketing budget. "Close" stops issuing and gives back
    what its coupons no longer need."""

    form = CouponCampaignForm
    list_display = (
        "title",
        "audience",
        "status",
        "amount",
        "progress",
        "reserve",
        "starts_at",
        "ends_at",
    )
    list_filter = ("status", "audience")
    search_fields = ("title", "code")
    actions = ["launch", "close"]
    autocomplete_fields = ("store",)

    def get_readonly_fields(self, request, obj=None):
        progress = ("status", "issued_count", "target_count", "reserved_fen", "released_fen", "launched_at")
        if obj is not None and obj.status != CouponCampaign.Status.DRAFT:
            return (*TERMS, *progress, "closed_at")
        return progress

    def get_fields(self, request, obj=None):
        if obj is None:
            return TERMS
        return (
            *TERMS,
            "status",
            "issued_count",
            "target_count",
            "reserved_fen",
            "released_fen",
            "launched_at",
        )

    def add_view(self, request, form_url="", extra_context=None):
        self.message_user(request, _budget_line(), messages.INFO)
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()  # a draft: money moves at launch
            return
        # A change writes a draft's terms only, and only while it is still a draft: never the
        # counters, status or reserve the form loaded (a redeem, a launch or the sweeper may
        # have moved them since), never anything of a launched campaign.
        terms = {name: getattr(obj, name) for name in TERMS if name in form.changed_data}
        written = CouponCampaign.objects.filter(pk=obj.pk, status=CouponCampaign.Status.DRAFT).update(
            **terms, updated_at=timezone.now()
        )
        if not written:
            self.message_user(
                request, "This campaign is no longer a draft: its terms were not changed.", messages.WARNING
            )

    @admin.display(description="Amount", ordering="amount_fen")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.display(description="Issued")
    def progress(self, obj):
        # A store's members at launch (more may join while it runs), else the cap's coupons.
        target = max(obj.target_count, obj.issued_count) if obj.target_count else obj.max_coupons
        return f"{obj.issued_count} of {target}"

    @admin.display(description="Reserve left (fen)")
    def reserve(self, obj):
        return obj.reserved_fen - obj.released_fen

    @admin.action(description="Launch: reserve the cap from the marketing budget and start issuing")
    @audited("coupon_campaign.launch")
    def launch(self, request, queryset):
        for candidate in queryset.order_by("pk"):
            pk = candidate.pk
            try:
                with audit_decision(request, candidate) as decision:
                    campaign = coupon_campaign_launch(campaign_id=pk, now=timezone.now())
                    decision.details["cap_fen"] = campaign.cap_fen
            except ApplicationError as exc:
                self.message_user(request, f"Campaign {pk} not launched: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request, f"Campaign “{campaign.title}” launched; {fen_display(campaign.cap_fen)} reserved."
            )
        self.message_user(request, _budget_line(), messages.INFO)

    @admin.action(description="Close: stop issuing and give back what is not needed (asks for a reason)")
    @audited("coupon_campaign.close", ask_reason=True)
    def close(self, request, queryset):
        done = 0
        for campaign in queryset.order_by("pk"):
            with audit_decision(request, campaign) as decision:
                if coupon_campaign_close(campaign_id=campaign.pk):
                    done += 1
                else:
                    decision.skip()  # not running
        self.message_user(request, f"{done} campaign(s) closed.")

    def has_delete_permission(self, request, obj=None):
        return bool(
            obj is not None and obj.status == CouponCampaign.Status.DRAFT
        ) and super().has_delete_permission(request, obj)


class MarketingBudgetAllocationForm(forms.ModelForm):
    class Meta:
        model = MarketingBudgetAllocation
        fields = ("amount_fen", "note")

    def clean_amount_fen(self):
        amount = self.cleaned_data["amount_fen"]
        if amount <= 0:
            raise forms.ValidationError("Allocate at least 1 fen.")
        return amount


@admin.register(MarketingBudgetAllocation)
class MarketingBudgetAllocationAdmin(admin.ModelAdmin):
    """Money put into the marketing budget from platform revenue. Coupon campaigns take their
    cap from it. An allocation cannot be edited or deleted: it is in the ledger."""

    form = MarketingBudgetAllocationForm
    list_display = ("created_at", "amount", "note", "created_by")

    @admin.display(description="Amount", ordering="amount_fen")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    def changelist_view(self, request, extra_context=None):
        self.message_user(request, _budget_line(), messages.INFO)
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        """Money from platform revenue into the marketing budget: an ops decision, recorded
        (``marketing_budget.allocate``, the note as its reason) in the form's transaction."""
        allocation = marketing_budget_allocate(
            amount_fen=form.cleaned_data["amount_fen"], note=form.cleaned_data["note"], actor=request.user
        )
        audit_record(
            actor=request.user,
            action="marketing_budget.allocate",
            obj=allocation,
            reason=form.cleaned_data["note"],
            details={"amount_fen": allocation.amount_fen},
        )
        obj.pk = allocation.pk  # the admin's log and redirect name the row the service wrote
        obj.refresh_from_db()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
