from django.urls import path

from .envelope_views import RedEnvelopeClaimApi, StoreRedEnvelopeListApi
from .statement_views import (
    MerchantStatementExportApi,
    MerchantStatementLineListApi,
    MerchantStatementListApi,
)
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
    path("merchant/statements", MerchantStatementListApi.as_view(), name="merchant-statements"),
    path(
        "merchant/statements/<int:statement_id>/lines",
        MerchantStatementLineListApi.as_view(),
        name="merchant-statement-lines",
    ),
    path(
        "merchant/statements/<int:statement_id>/export",
        MerchantStatementExportApi.as_view(),
        name="merchant-statement-export",
    ),
]
