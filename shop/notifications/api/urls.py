from django.urls import path

from .views import NotificationListApi

urlpatterns = [path("notifications", NotificationListApi.as_view(), name="notification-list")]
