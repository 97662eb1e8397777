from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from shop.audit.admin_actions import audit_scope, audited

from .models import AuthToken, User
from .services import user_freeze, user_unfreeze


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "nickname", "openid", "is_frozen", "is_staff", "date_joined")
    list_filter = ("is_frozen", "is_staff", "is_superuser")
    search_fields = ("username", "nickname", "openid", "phone")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("WeChat", {"fields": ("openid", "unionid", "nickname", "avatar_url", "phone", "is_frozen")}),
    )
    readonly_fields = ("openid", "unionid", "is_frozen")
    actions = ("freeze_users", "unfreeze_users")

    @admin.action(description="Freeze the selected users (revokes their logins; asks for a reason)")
    @audited("user.freeze", ask_reason=True)
    def freeze_users(self, request, queryset):
        reason = audit_scope(request).reason
        for user in queryset:
            user_freeze(user_id=user.pk, actor=request.user, reason=reason)  # records itself
        self.message_user(
            request, f"Froze {queryset.count()} user(s); their tokens no longer work.", messages.SUCCESS
        )

    @admin.action(description="Unfreeze the selected users (asks for a reason)")
    @audited("user.unfreeze", ask_reason=True)
    def unfreeze_users(self, request, queryset):
        reason = audit_scope(request).reason
        for user in queryset:
            user_unfreeze(user_id=user.pk, actor=request.user, reason=reason)  # records itself
        self.message_user(request, f"Unfroze {queryset.count()} user(s).", messages.SUCCESS)


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "revoked_at")
    raw_id_fields = ("user",)
    readonly_fields = ("user", "key_hash", "created_at", "expires_at")
