from django.urls import path

from .views import MerchantApplicationApi, MerchantDepositCreateApi, MerchantProfileApi

urlpatterns = [
    path("merchant/applications", MerchantApplicationApi.as_view(), name="merchant-application"),
    path("merchant/profile", MerchantProfileApi.as_view(), name="merchant-profile"),
    path("merchant/deposits", MerchantDepositCreateApi.as_view(), name="merchant-deposit"),
]
