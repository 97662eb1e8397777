from django.urls import path

from .views import PaymentNotifyApi, SandboxPayApi

urlpatterns = [
    path("payments/<str:gateway>/notify", PaymentNotifyApi.as_view(), name="payment-notify"),
    path("sandbox/payments/<int:payment_id>/pay", SandboxPayApi.as_view(), name="sandbox-pay"),
]
