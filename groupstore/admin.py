"""Ops' view of group stores. Every decision goes through a service (freeze, certify,
reject, generate codes), never a raw field edit."""

from __future__ import annotations

import csv
from datetime import datetime, time

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone

from products.adminkit import action_form
from shop.audit.admin_actions import audit_decision, audited
from shop.audit.services import audit_record
from shop.money import fen_display

from .errors import LeaderNotReviewable
from .models import (
    InvitationCode,
    Leader,
    Membership,
    PickupPoint,
    ShareLink,
    ShareReward,
    Store,
    StoreStats,
    VenueSelection,
)
from .services import (
    invitation_codes_generate,
    leader_certify,
    leader_reject,
    pickup_point_close,
    share_link_revoke,
    store_freeze,
    store_unfreeze,
)
from .services.leaders import MAX_CODES_PER_BATCH


class StoreStatsInline(admin.StackedInline):
    model = StoreStats
    can_delete = False
    readonly_fields = [f.name for f in StoreStats._meta.fields if f.name != "store"]
    fields = readonly_fields


class VenueSelectionInline(admin.TabularInline):
    model = VenueSelection
    extra = 0
    can_delete = False
    readonly_fields = ("position", "product", "added_by", "added_at")
    fields = readonly_fields
    ordering = ("position",)

    def has_add_permission(self, request, obj=None):
        return False  # the leader curates it through the API


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Shown to the store's owner or the applicant.")


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "wechat_group_id",
        "members",
        "gmv",
        "is_frozen",
        "is_venue",
        "created_at",
    )
    list_filter = ("is_frozen", "is_venue")
    search_fields = ("name", "owner__nickname", "wechat_group_id")
    raw_id_fields = ("owner",)
    readonly_fields = ("owner", "wechat_group_id", "is_frozen", "frozen_at", "frozen_reason", "is_venue")
    inlines = [StoreStatsInline, VenueSelectionInline]
    actions = ("freeze", "unfreeze")
    list_select_related = ("owner", "stats")

    @admin.display(description="Members")
    def members(self, obj):
        return obj.stats.members_count

    @admin.display(description="GMV")
    def gmv(self, obj):
        return fen_display(obj.stats.gmv_fen)

    @admin.action(description="Freeze the selected stores (no joins, no orders, no commission)")
    @audited("store.freeze")
    def freeze(self, request, queryset):
        def apply(data: dict) -> None:
            for store in queryset:
                with audit_decision(request, store, reason=data["reason"]):
                    store_freeze(store_id=store.pk, actor=request.user, reason=data["reason"])
                self.log_change(request, store, f"Frozen: {data['reason']}")
            self.message_user(request, f"Froze {queryset.count()} store(s).", messages.SUCCESS)

        return action_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title="Freeze stores",
            submit_label="Freeze",
            apply=apply,
            action="freeze",
            intro="Frozen stores take no new members and no new orders, and their owners earn no "
            "commission on what is paid while frozen. Their owners are told, with your reason.",
        )

    @admin.action(description="Unfreeze the selected stores (asks for a reason)")
    @audited("store.unfreeze", ask_reason=True)
    def unfreeze(self, request, queryset):
        for store in queryset:
            with audit_decision(request, store):
                store_unfreeze(store_id=store.pk, actor=request.user)
            self.log_change(request, store, "Unfrozen")
        self.message_user(request, f"Unfroze {queryset.count()} store(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("store", "user", "role", "joined_at", "orders_count", "paid_fen", "saved_fen")
    list_filter = ("role",)
    search_fields = ("store__name", "user__nickname")
    raw_id_fields = ("store", "user", "joined_via")
    readonly_fields = (
        "store",
        "user",
        "role",
        "joined_at",
        "joined_via",
        "orders_count",
        "paid_fen",
        "discount_fen",
        "rebate_fen",
        "envelope_fen",
        "saved_fen",
    )

    def has_add_permission(self, request):
        return False  # members join through share links


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("store", "created_by", "product", "is_revoked", "created_at")
    list_filter = ("is_revoked",)
    # A poster's mini-program code names its link by ``scene`` (what a shopper's scan shows).
    search_fields = ("store__name", "token", "=scene")
    raw_id_fields = ("store", "created_by", "product")
    readonly_fields = ("token", "scene")
    actions = ("revoke",)

    @admin.action(description="Withdraw the selected share links")
    @audited("share_link.revoke")
    def revoke(self, request, queryset):
        count = 0
        for link in queryset.order_by("pk"):
            with audit_decision(request, link) as decision:
                if share_link_revoke(link_id=link.pk):
                    count += 1
                else:
                    decision.skip()  # already withdrawn
        self.message_user(request, f"Withdrew {count} link(s).", messages.SUCCESS)


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(
        min_value=1, max_value=MAX_CODES_PER_BATCH, initial=20, help_text="How many codes."
    )
    max_uses = forms.IntegerField(
        min_value=1, initial=1, help_text="1 for a personal code; more for a code shared at an event."
    )
    expires_on = forms.DateField(
        required=False, help_text="Last day the codes work (YYYY-MM-DD, China time). Empty: no expiry."
    )
    batch = forms.CharField(
        max_length=60, required=False, help_text="A label to find the batch again, e.g. 'Shanghai meetup'."
    )


@admin.register(InvitationCode)
class InvitationCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "batch", "max_uses", "used_count", "expires_at", "created_by", "created_at")
    list_filter = ("batch",)
    search_fields = ("code", "batch")
    readonly_fields = ("code", "batch", "max_uses", "used_count", "expires_at", "created_by")
    actions = ("export_csv",)
    change_list_template = "admin/groupstore/invitationcode/change_list.html"

    def has_add_permission(self, request):
        return False  # codes are generated in batches (the "Generate a batch" button)

    def get_urls(self):
        generate = path(
            "generate/",
            self.admin_site.admin_view(self.generate_view),
            name="groupstore_invitationcode_generate",
        )
        return [generate, *super().get_urls()]

    def generate_view(self, request):
        made: list[InvitationCode] = []

        def apply(data: dict) -> None:
            expires_at = None
            if data["expires_on"]:
                # Valid through the whole last day, China time.
                expires_at = timezone.make_aware(datetime.combine(data["expires_on"], time.max))
            label = data["batch"] or f"{timezone.localtime():%Y-%m-%d %H:%M} {request.user}"
            with transaction.atomic():  # the codes and their audit entry together
                made.extend(
                    invitation_codes_generate(
                        count=data["count"],
                        max_uses=data["max_uses"],
                        expires_at=expires_at,
                        batch=label,
                        created_by=request.user,
                    )
                )
                audit_record(
                    actor=request.user,
                    action="invitation_code.generate",
                    object_type=InvitationCode._meta.label_lower,
                    details={
                        "count": len(made),
                        "max_uses": data["max_uses"],
                        "batch": label,
                        "expires_on": data["expires_on"].isoformat() if data["expires_on"] else None,
                    },
                )

        response = action_form(
            self,
            request,
            None,
            form_class=GenerateCodesForm,
            title="Generate invitation codes",
            submit_label="Generate",
            apply=apply,
            intro="Shoppers register as leaders with these codes; you certify them afterwards.",
            cancel_url=reverse("admin:groupstore_invitationcode_changelist"),
        )
        if response is not None:
            return response
        batch = made[0].batch
        self.message_user(request, f"Generated {len(made)} code(s) in batch “{batch}”.", messages.SUCCESS)
        changelist = reverse("admin:groupstore_invitationcode_changelist")
        return HttpResponseRedirect(f"{changelist}?batch__exact={batch}")

    @admin.action(description="Download the selected codes as CSV")
    @audited("invitation_code.export")
    def export_csv(self, request, queryset):
        """A download, recorded as one entry naming the codes handed out (they let people
        become leaders)."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        with audit_decision(
            request,
            None,
            object_type=InvitationCode._meta.label_lower,
            details={"count": len(ids), "ids": ids[:1000]},
        ):
            pass
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="invitation-codes.csv"'
        writer = csv.writer(response)
        writer.writerow(["code", "batch", "max_uses", "used_count", "expires_at"])
        for code in queryset.order_by("pk"):
            writer.writerow([code.code, code.batch, code.max_uses, code.used_count, code.expires_at or ""])
        return response


@admin.register(Leader)
class LeaderAdmin(admin.ModelAdmin):
    list_display = ("user", "invitation_code", "status", "certified_at", "reviewed_by", "created_at")
    list_filter = ("status",)
    search_fields = ("user__nickname", "invitation_code__code")
    raw_id_fields = ("user", "invitation_code")
    readonly_fields = (
        "user",
        "invitation_code",
        "status",
        "certified_at",
        "reviewed_at",
        "reviewed_by",
        "rejection_reason",
    )
    actions = ("certify", "reject")

    def has_add_permission(self, request):
        return False  # shoppers apply with an invitation code

    @admin.action(description="Certify the selected leaders (their stores become sale venues)")
    @audited("leader.certify")
    def certify(self, request, queryset):
        done, refused = 0, []
        for leader in queryset:
            try:
                with audit_decision(request, leader):
                    leader_certify(leader_id=leader.pk, actor=request.user)
            except LeaderNotReviewable as exc:  # reported to ops; the others go on
                refused.append(f"{leader}: {exc}")
            else:
                done += 1
                self.log_change(request, leader, "Certified")
        self.message_user(request, f"Certified {done} leader(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not certified: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Reject the selected applications (or withdraw certification)")
    @audited("leader.reject")
    def reject(self, request, queryset):
        def apply(data: dict) -> None:
            for leader in queryset:
                with audit_decision(request, leader, reason=data["reason"]):
                    leader_reject(leader_id=leader.pk, reason=data["reason"], actor=request.user)
                self.log_change(request, leader, f"Rejected: {data['reason']}")
            self.message_user(request, f"Rejected {queryset.count()} application(s).", messages.SUCCESS)

        return action_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title="Reject leaders",
            submit_label="Reject",
            apply=apply,
            action="reject",
            intro="Certified leaders lose their sale venues. The applicant is told your reason.",
        )


@admin.register(ShareReward)
class ShareRewardAdmin(admin.ModelAdmin):
    list_display = ("store", "owner", "member", "order_id", "amount", "status", "granted_at")
    list_filter = ("status", "granted_on")
    search_fields = ("store__name", "owner__nickname", "member__nickname")
    raw_id_fields = ("store", "owner", "member")
    readonly_fields = [f.name for f in ShareReward._meta.fields]

    def has_add_permission(self, request):
        return False  # granted only by the share-reward rule when an order completes

    @admin.display(description="Amount")
    def amount(self, obj):
        return fen_display(obj.amount_fen)


@admin.register(PickupPoint)
class PickupPointAdmin(admin.ModelAdmin):
    """Leaders' pickup points. Leaders open and change them in the mini-program; ops may
    close one to new orders (parcels already on their way are still handed out)."""

    list_display = ("name", "leader", "region", "opening_hours", "contact_name", "is_open", "created_at")
    list_filter = ("is_open",)
    search_fields = ("name", "address", "leader__nickname", "contact_name")
    raw_id_fields = ("leader",)
    readonly_fields = [f.name for f in PickupPoint._meta.fields]
    actions = ("close_points",)

    def has_add_permission(self, request):
        return False  # a certified leader opens their point through the API

    @admin.action(description="Close the selected pickup points to new orders")
    @audited("pickup_point.close")
    def close_points(self, request, queryset):
        for point in queryset.select_related("leader"):
            with audit_decision(request, point):
                pickup_point_close(leader=point.leader)
            self.log_change(request, point, "Closed to new orders by ops")
        self.message_user(
            request,
            f"Closed {queryset.count()} pickup point(s) to new orders; "
            "parcels on their way are still handed out.",
            messages.SUCCESS,
        )
