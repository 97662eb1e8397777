from __future__ import annotations

from rest_framework import serializers
from rest_framework.generics import ListAPIView

from shop.notifications.models import Notification


class NotificationOutput(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ("id", "kind", "title", "body", "data", "read_at", "created_at")


class NotificationListApi(ListAPIView):
    serializer_class = NotificationOutput

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user).order_by("-id")
