from django.urls import path

from .payout_views import PayoutNotifyApi
from .views import (
    EcommercePaymentNotifyApi,
    EcommerceProfitSharingNotifyApi,
    EcommerceRefundNotifyApi,
    PaymentNotifyApi,
    RefundNotifyApi,
    SandboxPayApi,
)

urlpatterns = [
    path("payments/<str:gateway>/notify", PaymentNotifyApi.as_view(), name="payment-notify"),
    path(
        "payments/<str:gateway>/ecommerce-notify",
        EcommercePaymentNotifyApi.as_view(),
        name="ecommerce-payment-notify",
    ),
    path("payments/<str:gateway>/refund-notify", RefundNotifyApi.as_view(), name="refund-notify"),
    path(
        "payments/<str:gateway>/ecommerce-refund-notify",
        EcommerceRefundNotifyApi.as_view(),
        name="ecommerce-refund-notify",
    ),
    path(
        "payments/<str:gateway>/ecommerce-profit-sharing-notify",
        EcommerceProfitSharingNotifyApi.as_view(),
        name="ecommerce-profit-sharing-notify",
    ),
    path("payouts/<str:gateway>/notify", PayoutNotifyApi.as_view(), name="payout-notify"),
    path("sandbox/payments/<int:payment_id>/pay", SandboxPayApi.as_view(), name="sandbox-pay"),
]
