from django.urls import path

from .coupons import CouponListApi, CouponRedeemApi
from .flash_offers import MerchantFlashOfferListCreateApi, StoreFlashOfferListApi
from .views import (
    AfterSaleDetailApi,
    AfterSaleEscalateApi,
    AfterSaleOpenApi,
    AfterSaleReturnShipmentApi,
    AfterSaleWithdrawApi,
    CheckoutQuoteApi,
    MerchantAfterSaleApproveApi,
    MerchantAfterSaleListApi,
    MerchantAfterSaleRejectApi,
    MerchantAfterSaleReturnReceivedApi,
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
    path("orders/<int:order_id>/after-sales", AfterSaleOpenApi.as_view(), name="after-sale-open"),
    path("after-sales/<int:case_id>", AfterSaleDetailApi.as_view(), name="after-sale-detail"),
    path("after-sales/<int:case_id>/escalate", AfterSaleEscalateApi.as_view(), name="after-sale-escalate"),
    path("after-sales/<int:case_id>/withdraw", AfterSaleWithdrawApi.as_view(), name="after-sale-withdraw"),
    path(
        "after-sales/<int:case_id>/return-shipment",
        AfterSaleReturnShipmentApi.as_view(),
        name="after-sale-return-shipment",
    ),
    path("merchant/after-sales", MerchantAfterSaleListApi.as_view(), name="merchant-after-sales"),
    path(
        "merchant/after-sales/<int:case_id>/return-received",
        MerchantAfterSaleReturnReceivedApi.as_view(),
        name="merchant-after-sale-return-received",
    ),
    path(
        "merchant/after-sales/<int:case_id>/approve",
        MerchantAfterSaleApproveApi.as_view(),
        name="merchant-after-sale-approve",
    ),
    path(
        "merchant/after-sales/<int:case_id>/reject",
        MerchantAfterSaleRejectApi.as_view(),
        name="merchant-after-sale-reject",
    ),
    path("teams/<int:team_id>", TeamDetailApi.as_view(), name="team-detail"),
    path("merchant/flash-offers", MerchantFlashOfferListCreateApi.as_view(), name="merchant-flash-offers"),
    path("stores/<int:store_id>/flash-offers", StoreFlashOfferListApi.as_view(), name="store-flash-offers"),
    path("coupons", CouponListApi.as_view(), name="coupons"),
    path("coupons/redeem", CouponRedeemApi.as_view(), name="coupon-redeem"),
    path("merchant/orders", MerchantOrderListApi.as_view(), name="merchant-orders"),
    path("merchant/orders/<int:order_id>/ship", MerchantOrderShipApi.as_view(), name="merchant-order-ship"),
    path(
        "merchant/orders/<int:order_id>/invoice",
        MerchantOrderInvoiceApi.as_view(),
        name="merchant-order-invoice",
    ),
]
