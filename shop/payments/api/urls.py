from django.urls import path

from .views import PaymentNotifyApi, RefundNotifyApi, SandboxPayApi

urlpatterns = [
    path("payments/<str:gateway>/notify", PaymentNotifyApi.as_view(), name="payment-notify"),
    path("payments/<str:gateway>/refund-notify", RefundNotifyApi.as_view(), name="refund-notify"),
    path("sandbox/payments/<int:payment_id>/pay", SandboxPayApi.as_view(), name="sandbox-pay"),
]
