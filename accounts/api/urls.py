from django.urls import path

from .views import MeApi, WechatLoginApi

urlpatterns = [
    path("auth/wechat-login", WechatLoginApi.as_view(), name="wechat-login"),
    path("me", MeApi.as_view(), name="me"),
]
