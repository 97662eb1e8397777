from django.contrib import admin, messages

from shop.audit.admin_actions import audit_decision, audited

from .models import Notification, SubscribeGrant, SubscribeMessage, WebhookDelivery, WebhookEndpoint
from .services import webhook_delivery_retry_now, webhook_endpoint_deactivate


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "title", "read_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("title", "recipient__nickname")
    raw_id_fields = ("recipient",)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "description", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "owner__nickname")
    raw_id_fields = ("owner",)
    readonly_fields = ("owner", "url", "description", "is_active")
    exclude = ("secret",)  # the owner's signing key; ops have no use for it
    actions = ("deactivate",)

    def has_add_permission(self, request):
        return False  # users register their own URLs through the API

    @admin.action(description="Stop sending to the selected webhooks")
    @audited("webhook.deactivate")
    def deactivate(self, request, queryset):
        for endpoint in queryset:
            with audit_decision(request, endpoint, details={"owner_id": endpoint.owner_id}) as decision:
                if not endpoint.is_active:
                    decision.skip()  # already stopped: nothing to decide
                webhook_endpoint_deactivate(endpoint_id=endpoint.pk, owner=endpoint.owner)
        self.message_user(request, f"Stopped {queryset.count()} webhook(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "next_attempt_at", "last_error", "created_at")
    list_filter = ("status", "event")
    search_fields = ("endpoint__url",)
    raw_id_fields = ("endpoint", "notification")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ("retry_now",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send the selected deliveries again now (fresh attempts)")
    @audited("webhook_delivery.retry")
    def retry_now(self, request, queryset):
        sent = 0
        for delivery in queryset.order_by("pk"):
            with audit_decision(request, delivery) as decision:
                if webhook_delivery_retry_now(delivery_id=delivery.pk):
                    sent += 1
                else:
                    decision.skip()  # delivered, or its webhook is stopped
        self.message_user(
            request,
            f"Queued {sent} delivery(ies) again; delivered ones and those of stopped webhooks were skipped.",
            messages.SUCCESS,
        )


@admin.register(SubscribeGrant)
class SubscribeGrantAdmin(admin.ModelAdmin):
    """Read-only: counts change only through the mini-program's reports and sends."""

    list_display = ("user", "template_id", "remaining_count", "updated_at")
    search_fields = ("template_id", "user__nickname")
    raw_id_fields = ("user",)
    readonly_fields = [f.name for f in SubscribeGrant._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SubscribeMessage)
class SubscribeMessageAdmin(admin.ModelAdmin):
    list_display = ("kind", "recipient", "status", "attempts", "last_error", "sent_at", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "recipient__nickname")
    raw_id_fields = ("recipient", "notification")
    readonly_fields = [f.name for f in SubscribeMessage._meta.fields]

    def has_add_permission(self, request):
        return False
