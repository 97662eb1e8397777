from django.urls import path

from .views import WalletApi, WalletEntryListApi

urlpatterns = [
    path("wallet", WalletApi.as_view(), name="wallet"),
    path("wallet/entries", WalletEntryListApi.as_view(), name="wallet-entries"),
]
