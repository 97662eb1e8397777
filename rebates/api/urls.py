from django.urls import path

from .envelope_views import RedEnvelopeClaimApi, StoreRedEnvelopeListApi
from .views import WalletApi, WalletEntryListApi
from .withdrawal_views import WithdrawalListCreateApi

urlpatterns = [
    path("wallet", WalletApi.as_view(), name="wallet"),
    path("wallet/entries", WalletEntryListApi.as_view(), name="wallet-entries"),
    path("wallet/withdrawals", WithdrawalListCreateApi.as_view(), name="wallet-withdrawals"),
    path(
        "stores/<int:store_id>/red-envelopes", StoreRedEnvelopeListApi.as_view(), name="store-red-envelopes"
    ),
    path("red-envelopes/<int:envelope_id>/claim", RedEnvelopeClaimApi.as_view(), name="red-envelope-claim"),
]
