from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.confirm import confirmation_schema, require_confirmation
from shop.api.serializers import ModelSerializer, QuerySerializer, Serializer, https_url
from shop.api.throttling import UserScopedRateThrottle
from shop.notifications.models import Notification, WebhookEndpoint
from shop.notifications.selectors import (
    notification_list_for_user,
    webhook_get_for_owner,
    webhook_list_for_owner,
)
from shop.notifications.services import (
    notification_mark_read,
    webhook_endpoint_create,
    webhook_endpoint_deactivate,
)
from shop.notifications.subscribe import RESULTS, subscribe_counts_for_user, subscribe_results_record


class NotificationOutput(ModelSerializer):
    class Meta:
        model = Notification
        fields = ("id", "kind", "title", "body", "data", "read_at", "created_at")


class NotificationListApi(ListAPIView):
    """``GET /notifications``: mine, newest first; ``?unread=true`` for the unread ones."""

    serializer_class = NotificationOutput
    queryset = Notification.objects.none()  # for the schema; get_queryset gives the caller's

    class FilterSerializer(QuerySerializer):
        unread = serializers.BooleanField(required=False)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return notification_list_for_user(user=self.request.user, unread=filters.validated_data.get("unread"))


class NotificationReadApi(APIView):
    """``POST /notifications/{id}/read``: mark one of mine read (idempotent)."""

    @extend_schema(request=None, responses=NotificationOutput)
    def post(self, request, notification_id: int):
        notification = notification_mark_read(notification_id=notification_id, user=request.user)
        return Response(NotificationOutput(notification).data)


class WebhookOutput(ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ("id", "url", "description", "is_active", "created_at")


class WebhookCreatedOutput(ModelSerializer):
    """The signing secret is shown once, when the webhook is registered."""

    class Meta:
        model = WebhookEndpoint
        fields = ("id", "url", "description", "is_active", "created_at", "secret")


class WebhookListCreateApi(ListAPIView):
    """``GET /webhooks``: my webhooks; ``POST /webhooks``: register one (certified leaders and
    merchants' staff). Events are POSTed as JSON, signed ``X-Shop-Signature: t=<ts>,v1=<hex>``
    with ``hex = HMAC-SHA256(secret, "<ts>." + body)``."""

    serializer_class = WebhookOutput
    queryset = WebhookEndpoint.objects.none()  # for the schema; get_queryset gives the caller's
    throttle_scope = "webhook_create"

    class InputSerializer(Serializer):
        url = serializers.URLField(
            max_length=500, validators=[https_url], help_text="https URL of a public host."
        )
        description = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)

    def get_queryset(self):
        return webhook_list_for_owner(owner=self.request.user)

    def get_throttles(self):
        return [UserScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=InputSerializer, responses={201: WebhookCreatedOutput})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(owner=request.user, **payload.validated_data)
        return Response(WebhookCreatedOutput(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDeleteApi(APIView):
    """``DELETE /webhooks/{id}``: stop sending to it (kept, inactive, for the record)."""

    @extend_schema(request=confirmation_schema("delete", name="WebhookDeleteInput"), responses={204: None})
    def delete(self, request, webhook_id: int):
        # Someone else's endpoint is a 404 before the body is looked at; then the body must
        # say {"confirm": "delete"}: a stopped endpoint cannot be started again.
        webhook_get_for_owner(endpoint_id=webhook_id, owner=request.user)
        require_confirmation(request, word="delete")
        webhook_endpoint_deactivate(endpoint_id=webhook_id, owner=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionsOutput(Serializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Template id → messages we may still send you."
    )


@extend_schema_field(
    {
        "type": "object",
        "properties": {"errMsg": {"type": "string", "maxLength": 300}},
        "additionalProperties": {"type": "string", "enum": list(RESULTS)},
        "minProperties": 1,
    }
)
class _SubscribeResultsField(serializers.DictField):
    """``{template_id: "accept"|"reject"|"ban"|"filter"}`` as ``wx.requestSubscribeMessage``
    answers it (its ``errMsg`` too), at least one: the schema says what the service checks,
    except which template ids are ours (configured: an unknown one is a 400)."""


class SubscriptionsApi(APIView):
    """``GET /me/subscriptions``: how many subscribe messages of each template we may still
    send me. ``POST /me/subscriptions {results}``: what ``wx.requestSubscribeMessage``
    answered (``{template_id: "accept"|"reject"|"ban"|"filter"}``, its ``errMsg`` ignored):
    each accept allows one more message, ban/filter none, reject changes nothing."""

    throttle_scope = "subscribe_report"

    class InputSerializer(Serializer):
        results = _SubscribeResultsField(
            child=serializers.CharField(max_length=300, allow_blank=True), allow_empty=False
        )

    def get_throttles(self):
        return [UserScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=None, responses=SubscriptionsOutput)
    def get(self, request):
        return Response({"counts": subscribe_counts_for_user(user=request.user)})

    @extend_schema(request=InputSerializer, responses=SubscriptionsOutput)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        counts = subscribe_results_record(user=request.user, results=payload.validated_data["results"])
        return Response({"counts": counts})
