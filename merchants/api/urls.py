from django.urls import path

from .console import (
    MerchantDepositMovementListApi,
    MerchantExitApi,
    MerchantExitCancelApi,
    MerchantProductDetailApi,
    MerchantProductListApi,
    MerchantSkuCreateApi,
    MerchantSkuDetailApi,
    MerchantStaffDetailApi,
    MerchantStaffInvitationCreateApi,
    MerchantStaffLeaveApi,
    MerchantStaffListApi,
    MerchantStockUploadDetailApi,
    MerchantStockUploadListApi,
    StaffInvitationAcceptApi,
)
from .views import MerchantApplicationApi, MerchantDepositCreateApi, MerchantProfileApi

urlpatterns = [
    path("merchant/applications", MerchantApplicationApi.as_view(), name="merchant-application"),
    path("merchant/profile", MerchantProfileApi.as_view(), name="merchant-profile"),
    path("merchant/deposits", MerchantDepositCreateApi.as_view(), name="merchant-deposit"),
    path(
        "merchant/deposit-movements",
        MerchantDepositMovementListApi.as_view(),
        name="merchant-deposit-movements",
    ),
    path("merchant/exit", MerchantExitApi.as_view(), name="merchant-exit"),
    path("merchant/exit/cancel", MerchantExitCancelApi.as_view(), name="merchant-exit-cancel"),
    path("merchant/staff", MerchantStaffListApi.as_view(), name="merchant-staff"),
    path(
        "merchant/staff/invitations",
        MerchantStaffInvitationCreateApi.as_view(),
        name="merchant-staff-invitations",
    ),
    path("merchant/staff/me", MerchantStaffLeaveApi.as_view(), name="merchant-staff-leave"),
    path("merchant/staff/<int:staff_id>", MerchantStaffDetailApi.as_view(), name="merchant-staff-detail"),
    path("staff-invitations/accept", StaffInvitationAcceptApi.as_view(), name="staff-invitation-accept"),
    path("merchant/products", MerchantProductListApi.as_view(), name="merchant-products"),
    path("merchant/products/<int:product_id>", MerchantProductDetailApi.as_view(), name="merchant-product"),
    path(
        "merchant/products/<int:product_id>/skus",
        MerchantSkuCreateApi.as_view(),
        name="merchant-product-skus",
    ),
    path("merchant/skus/<int:sku_id>", MerchantSkuDetailApi.as_view(), name="merchant-sku"),
    path("merchant/stock-uploads", MerchantStockUploadListApi.as_view(), name="merchant-stock-uploads"),
    path(
        "merchant/stock-uploads/<int:upload_id>",
        MerchantStockUploadDetailApi.as_view(),
        name="merchant-stock-upload",
    ),
]
