from django.contrib import admin, messages

from shop.money import fen_display

from .models import InvitationCode, Leader, Membership, ShareLink, Store, StoreStats


class StoreStatsInline(admin.StackedInline):
    model = StoreStats
    can_delete = False
    readonly_fields = [f.name for f in StoreStats._meta.fields if f.name != "store"]
    fields = readonly_fields


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
    readonly_fields = ("owner", "wechat_group_id")
    inlines = [StoreStatsInline]
    actions = ("freeze", "unfreeze")
    list_select_related = ("owner", "stats")

    @admin.display(description="Members")
    def members(self, obj):
        return obj.stats.members_count

    @admin.display(description="GMV")
    def gmv(self, obj):
        return fen_display(obj.stats.gmv_fen)

    @admin.action(description="Freeze the selected stores (no joins, no orders, no commission)")
    def freeze(self, request, queryset):
        count = queryset.update(is_frozen=True)
        self.message_user(request, f"Froze {count} store(s).", messages.SUCCESS)

    @admin.action(description="Unfreeze the selected stores")
    def unfreeze(self, request, queryset):
        count = queryset.update(is_frozen=False)
        self.message_user(request, f"Unfroze {count} store(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("store", "user", "role", "joined_at", "orders_count", "paid_fen", "saved_fen")
    list_filter = ("role",)
    search_fields = ("store__name", "user__nickname")
    raw_id_fields = ("store", "user", "joined_via")
    readonly_fields = ("orders_count", "paid_fen", "discount_fen", "rebate_fen", "envelope_fen", "saved_fen")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("store", "created_by", "product", "is_revoked", "created_at")
    list_filter = ("is_revoked",)
    search_fields = ("store__name", "token")
    raw_id_fields = ("store", "created_by", "product")
    readonly_fields = ("token",)
    actions = ("revoke",)

    @admin.action(description="Withdraw the selected share links")
    def revoke(self, request, queryset):
        count = queryset.update(is_revoked=True)
        self.message_user(request, f"Withdrew {count} link(s).", messages.SUCCESS)


@admin.register(InvitationCode)
class InvitationCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "max_uses", "used_count", "expires_at", "created_at")
    search_fields = ("code",)


@admin.register(Leader)
class LeaderAdmin(admin.ModelAdmin):
    list_display = ("user", "invitation_code", "status", "certified_at", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("user", "invitation_code")
