from django.urls import path

from .views import MeApi, MeExportApi, WechatLoginApi

urlpatterns = [
    path("auth/wechat-login", WechatLoginApi.as_view(), name="wechat-login"),
    path("me", MeApi.as_view(), name="me"),
    path("me/export", MeExportApi.as_view(), name="me-export"),
]
