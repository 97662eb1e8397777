from django.urls import path

from .views import (
    NotificationListApi,
    NotificationReadApi,
    SubscriptionsApi,
    WebhookDeleteApi,
    WebhookListCreateApi,
)

urlpatterns = [
    path("notifications", NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<int:notification_id>/read", NotificationReadApi.as_view(), name="notification-read"),
    path("me/subscriptions", SubscriptionsApi.as_view(), name="me-subscriptions"),
    path("webhooks", WebhookListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<int:webhook_id>", WebhookDeleteApi.as_view(), name="webhook-detail"),
]
