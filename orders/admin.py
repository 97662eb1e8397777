import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import transaction
from django.utils import timezone

from products.adminkit import action_form
from shop.audit.admin_actions import audit_decision, audit_scope, audited
from shop.audit.services import audit_form_changes, audit_record
from shop.errors import ApplicationError
from shop.money import fen_display
from shop.payments.models import Refund

from .models import (
    AfterSale,
    AfterSaleItem,
    Coupon,
    FlashOffer,
    Order,
    OrderEvent,
    OrderItem,
    Pickup,
    Team,
    TeamMember,
)
from .services.after_sales import after_sale_arbitrate
from .services.coupons import coupon_void
from .services.flash import flash_gate_reset
from .services.flash_offers import flash_offer_ops_save, flash_offer_overlaps, flash_offer_review
from .services.refunds import order_lock_for_refund, order_refund_full
from .services.sweepers import teams_expire_due
from .services.teams import team_fail


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


class PickupInline(admin.StackedInline):
    """Where a parcel bound for a leader's pickup point is. The code is the buyer's: ops
    never need it to help (the leader redeems what the buyer shows), so it is not shown."""

    model = Pickup
    extra = 0
    can_delete = False
    fields = ("point", "status", "arrived_at", "collected_at")
    readonly_fields = fields
    verbose_name = "pickup at a leader's point"

    def has_add_permission(self, request, obj=None):
        return False


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("address", "To the buyer's address"), ("pickup", "To a leader's pickup point")]

    def queryset(self, request, queryset):
        if self.value() == "pickup":
            return queryset.filter(pickup_point__isnull=False)
        if self.value() == "address":
            return queryset.filter(pickup_point__isnull=True)
        return queryset


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders change state only through services; ops read them here."""

    list_display = ("pk", "status", "buyer", "merchant", "store", "paid", "created_at", "paid_at")
    list_filter = ("status", DeliveryFilter, "merchant")
    search_fields = ("pk", "buyer__nickname", "tracking_no", "payment__out_trade_no")
    date_hierarchy = "created_at"
    list_select_related = ("buyer", "merchant", "store")
    readonly_fields = [f.name for f in Order._meta.fields]
    inlines = [OrderItemInline, PickupInline, OrderEventInline]
    actions = ["refund_in_full"]

    @admin.action(description="Refund in full (ops ruling; claws back settled commission; asks for a reason)")
    @audited("order.refund_full", ask_reason=True)
    def refund_in_full(self, request, queryset):
        done = 0
        reason = audit_scope(request).reason
        for order in queryset.order_by("pk"):
            try:
                with audit_decision(request, order, details={"paid_fen": order.paid_fen}) as decision:
                    locked = order_lock_for_refund(order.pk)  # the locks the service takes, in its order
                    if locked.status == Order.Status.REFUNDED or (
                        Refund.objects.filter(key=f"order:{order.pk}:refund-full").exists()
                    ):
                        decision.skip()  # refunded already: the service would leave it as it is
                        continue
                    order_refund_full(
                        order_id=order.pk,
                        reason=f"Refunded by ops ({request.user}): {reason}"[:255],
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


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0
    can_delete = False
    fields = ("buyer", "order", "is_leader", "status", "joined_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # members are only ever real orders: no fake members


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Team purchases. Seats and outcomes change only through checkout, payments and the
    expiry sweeper; ops can end overdue teams now (same service as the sweeper)."""

    list_display = (
        "pk",
        "sku",
        "leader",
        "seats",
        "paid_count",
        "status",
        "new_customers_only",
        "expires_at",
    )
    list_filter = ("status", "new_customers_only")
    search_fields = ("pk", "sku__code", "sku__product__title", "leader__nickname")
    date_hierarchy = "created_at"
    list_select_related = ("sku", "leader")
    readonly_fields = [f.name for f in Team._meta.fields]
    inlines = [TeamMemberInline]
    actions = ["close_overdue_teams"]

    @admin.display(description="Seats taken")
    def seats(self, obj):
        return f"{obj.members_count} / {obj.size}"

    @admin.action(description="Close overdue teams now: fail them, cancel unpaid orders, refund paid ones")
    @audited("team.fail")
    def close_overdue_teams(self, request, queryset):
        now = timezone.now()
        failed = 0
        for team in queryset.order_by("pk"):
            with audit_decision(request, team) as decision:
                if team_fail(team_id=team.pk, now=now):
                    failed += 1
                else:
                    decision.skip()  # not overdue, or already ended
        teams_expire_due(now)
        self.message_user(
            request, f"{failed} overdue team(s) closed; their orders are being cancelled or refunded."
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FlashOfferForm(forms.ModelForm):
    class Meta:
        model = FlashOffer
        fields = ("sku", "flash_price_fen", "starts_at", "ends_at", "quantity", "per_user_limit")

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError("The sale must end after it starts.")
        sku = data.get("sku")
        if sku and data.get("flash_price_fen") and data["flash_price_fen"] >= sku.price_fen:
            raise forms.ValidationError("The flash price must be below the list price.")
        if (
            self.instance.pk
            and data.get("quantity") is not None
            and data["quantity"] < self.instance.sold_count
        ):
            raise forms.ValidationError(
                f"{self.instance.sold_count} units are already sold; the cap cannot go lower."
            )
        if (
            sku
            and data.get("starts_at")
            and data.get("ends_at")
            and flash_offer_overlaps(
                sku_id=sku.pk,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                exclude_id=self.instance.pk,
            )
        ):
            raise forms.ValidationError(
                "Another waiting or approved offer of this SKU overlaps this window: "
                "one flash price at a time."
            )
        return data


class FlashOfferRejectForm(forms.Form):
    reason = forms.CharField(
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The merchant sees this: say what to change (price, units, window) to have it approved.",
    )


@admin.register(FlashOffer)
class FlashOfferAdmin(admin.ModelAdmin):
    """Flash sales: price, window, how many units in all and per buyer. Merchants propose
    offers ("Waiting for review"); approve or reject them here — only approved offers sell.
    An offer you add here yourself is approved at once. Units sold is counted by checkout;
    after changing the cap of a running sale, resync the gate."""

    form = FlashOfferForm
    list_display = (
        "pk",
        "sku",
        "merchant",
        "status",
        "flash_price",
        "list_price",
        "starts_at",
        "ends_at",
        "sold",
        "per_user_limit",
    )
    list_filter = (
        "status",
        ("starts_at", admin.DateFieldListFilter),
        ("ends_at", admin.DateFieldListFilter),
    )
    search_fields = ("pk", "sku__code", "sku__product__title")
    list_select_related = ("sku__merchant",)
    readonly_fields = (
        "status",
        "sold_count",
        "proposed_by",
        "reviewed_by",
        "reviewed_at",
        "rejection_reason",
    )
    raw_id_fields = ("sku",)
    actions = ["approve", "reject", "resync_gate"]

    @admin.display(description="Merchant", ordering="sku__merchant")
    def merchant(self, obj):
        return obj.sku.merchant

    @admin.display(description="List price")
    def list_price(self, obj):
        return fen_display(obj.sku.price_fen)

    def _review_each(self, request, queryset, *, approve: bool, reason: str = "") -> None:
        done = 0
        for offer in queryset.order_by("pk"):
            try:
                with audit_decision(request, offer, reason=reason) as decision:
                    target = FlashOffer.Status.APPROVED if approve else FlashOffer.Status.REJECTED
                    locked = FlashOffer.objects.select_for_update().values_list("status", flat=True)
                    if locked.get(pk=offer.pk) == target:  # the row lock the service takes first
                        decision.skip()  # decided so already: nothing decided now
                        continue
                    flash_offer_review(
                        offer_id=offer.pk, approve=approve, reviewer=request.user, reason=reason
                    )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{offer}: {exc.message}", messages.ERROR)
        if done:
            verb = "Approved" if approve else "Rejected"
            self.message_user(
                request, f"{verb} {done} flash offer(s); the merchants were notified.", messages.SUCCESS
            )

    @admin.action(description="Approve the selected offers (they sell from their start)")
    @audited("flash_offer.approve")
    def approve(self, request, queryset):
        self._review_each(request, queryset, approve=True)

    @admin.action(description="Reject the selected offers (asks for a reason)")
    @audited("flash_offer.reject")
    def reject(self, request, queryset):
        return action_form(
            self,
            request,
            queryset,
            form_class=FlashOfferRejectForm,
            title="Reject flash offers",
            submit_label="Reject",
            apply=lambda data: self._review_each(request, queryset, approve=False, reason=data["reason"]),
            action="reject",
            intro="The merchant's staff are notified with the reason; the offer never sells.",
        )

    @admin.display(description="Flash price", ordering="flash_price_fen")
    def flash_price(self, obj):
        return fen_display(obj.flash_price_fen)

    @admin.display(description="Sold / cap")
    def sold(self, obj):
        return f"{obj.sold_count} / {obj.quantity}"

    def save_model(self, request, obj, form, change):
        """Ops' own offer is approved at once; a change of a running one reseeds its gate.
        Both are decisions, recorded (``flash_offer.create`` / ``flash_offer.change`` with the
        fields changed) in the save's transaction (the admin's change form runs in one)."""
        try:
            flash_offer_ops_save(offer=obj, reviewer=request.user)  # the one-offer-per-window rule
        except ApplicationError as exc:  # a sale or another offer moved since the form was checked
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return
        audit_record(
            actor=request.user,
            action="flash_offer.change" if change else "flash_offer.create",
            obj=obj,
            details={"changed": audit_form_changes(form)},
        )
        if change:
            # The gate reseeds from the new cap: once it is committed, or a buyer in between
            # would reseed it from the old one.
            transaction.on_commit(functools.partial(flash_gate_reset, offer_id=obj.pk))

    @admin.action(description="Resync the sale's fast counter with the database")
    @audited("flash_offer.gate_resync")
    def resync_gate(self, request, queryset):
        for offer in queryset.order_by("pk"):
            with audit_decision(request, offer, details={"sold_count": offer.sold_count}):
                flash_gate_reset(offer_id=offer.pk)
        self.message_user(request, f"{queryset.count()} flash sale(s) will recount from the database.")

    def has_delete_permission(self, request, obj=None):
        return bool(obj is None or obj.sold_count == 0) and super().has_delete_permission(request, obj)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    """Coupons in shoppers' wallets. Ops issue them through coupon campaigns and may
    withdraw usable ones; locked and used ones belong to their checkout (a locked one comes
    back by itself if that checkout is cancelled or times out)."""

    list_display = (
        "pk",
        "user",
        "title",
        "amount",
        "min_spend",
        "status",
        "source",
        "campaign",
        "expires_at",
    )
    list_filter = ("status", "source", "campaign")
    search_fields = ("pk", "user__nickname", "source_ref", "payment__out_trade_no")
    date_hierarchy = "created_at"
    list_select_related = ("user", "campaign")
    readonly_fields = [f.name for f in Coupon._meta.fields]
    actions = ["withdraw"]

    @admin.display(description="Amount", ordering="amount_fen")
    def amount(self, obj):
        return fen_display(obj.amount_fen)

    @admin.display(description="Minimum spend", ordering="min_spend_fen")
    def min_spend(self, obj):
        return fen_display(obj.min_spend_fen)

    @admin.action(description="Withdraw the selected usable coupons (asks for a reason)")
    @audited("coupon.withdraw", ask_reason=True)
    def withdraw(self, request, queryset):
        done = 0
        for coupon in queryset.order_by("pk"):
            with audit_decision(request, coupon, details={"amount_fen": coupon.amount_fen}) as decision:
                if coupon_void(coupon_id=coupon.pk):
                    done += 1
                else:
                    decision.skip()  # locked or used: left alone
        self.message_user(request, f"{done} coupon(s) withdrawn; locked and used ones were left alone.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
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

    list_display = (
        "pk",
        "status",
        "kind",
        "order",
        "merchant",
        "buyer",
        "amount",
        "next_deadline",
        "created_at",
    )
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

    @admin.display(description="Decided automatically at")
    def next_deadline(self, obj):
        """When the sweeper decides the case if nobody acts (approve, close or refund)."""
        return {
            AfterSale.Status.REQUESTED: obj.respond_by,
            AfterSale.Status.AWAITING_RETURN: obj.return_by,
            AfterSale.Status.RETURN_SHIPPED: obj.refund_by,
        }.get(obj.status) or "—"

    def has_add_permission(self, request):
        return False

    def _rule(self, request, queryset, *, refund: bool):
        note = request.POST.get("note", "")
        done, refused = 0, []
        for case in queryset.order_by("pk"):
            try:
                with audit_decision(
                    request, case, reason=note, details={"amount_fen": case.amount_fen}
                ) as decision:
                    if case.status in (AfterSale.Status.REFUNDED, AfterSale.Status.CLOSED):
                        decision.skip()  # already decided: the service leaves it as it is
                    after_sale_arbitrate(case_id=case.pk, refund=refund, actor=request.user, note=note)
                done += 1
            except ApplicationError as exc:
                refused.append(f"case {case.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{done} case(s) ruled.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Rule for the buyer: refund the amount asked")
    @audited("after_sale.rule_refund")
    def rule_refund(self, request, queryset):
        self._rule(request, queryset, refund=True)

    @admin.action(description="Rule for the merchant: close without refund")
    @audited("after_sale.rule_close")
    def rule_close(self, request, queryset):
        self._rule(request, queryset, refund=False)


from . import admin_campaigns  # noqa: E402, F401 - coupon campaigns and the marketing budget
