from django.urls import path

from .views import (
    CheckoutQuoteApi,
    MerchantOrderInvoiceApi,
    MerchantOrderListApi,
    MerchantOrderShipApi,
    OrderCancelApi,
    OrderConfirmReceiptApi,
    OrderDetailApi,
    OrderListCreateApi,
    TeamDetailApi,
)

urlpatterns = [
    path("checkout/quote", CheckoutQuoteApi.as_view(), name="checkout-quote"),
    path("orders", OrderListCreateApi.as_view(), name="orders"),
    path("orders/<int:order_id>", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel", OrderCancelApi.as_view(), name="order-cancel"),
    path(
        "orders/<int:order_id>/confirm-receipt",
        OrderConfirmReceiptApi.as_view(),
        name="order-confirm-receipt",
    ),
    path("teams/<int:team_id>", TeamDetailApi.as_view(), name="team-detail"),
    path("merchant/orders", MerchantOrderListApi.as_view(), name="merchant-orders"),
    path("merchant/orders/<int:order_id>/ship", MerchantOrderShipApi.as_view(), name="merchant-order-ship"),
    path(
        "merchant/orders/<int:order_id>/invoice",
        MerchantOrderInvoiceApi.as_view(),
        name="merchant-order-invoice",
    ),
]
