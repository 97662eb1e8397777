from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rebates.selectors import wallet_entry_list, wallet_get
from shop.api.serializers import Serializer


class WalletApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Wallet",
            {
                "available_fen": serializers.IntegerField(),
                "pending_fen": serializers.IntegerField(),
                "held_fen": serializers.IntegerField(),
                "withdrawable_fen": serializers.IntegerField(),
            },
        )
    )
    def get(self, request):
        wallet = wallet_get(user_id=request.user.pk)
        return Response(
            {
                "available_fen": wallet.available_fen,
                "pending_fen": wallet.pending_fen,
                "held_fen": wallet.held_fen,
                "withdrawable_fen": wallet.withdrawable_fen,
            }
        )


class WalletEntryOutput(Serializer):
    id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    balance = serializers.CharField(
        source="account.kind", help_text="user_available, user_pending or user_held"
    )
    kind = serializers.CharField(source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    ref_type = serializers.CharField(source="transaction.ref_type")
    ref_id = serializers.IntegerField(source="transaction.ref_id", allow_null=True)
    order_id = serializers.SerializerMethodField(help_text="The order this line came from, if any.")
    envelope_id = serializers.SerializerMethodField(help_text="The red envelope this line came from, if any.")
    withdrawal_id = serializers.SerializerMethodField(
        help_text="The withdrawal this line belongs to, if any."
    )
    created_at = serializers.DateTimeField(source="transaction.created_at")

    def _ref(self, obj, ref_type: str) -> int | None:
        return obj.transaction.ref_id if obj.transaction.ref_type == ref_type else None

    def get_order_id(self, obj) -> int | None:
        return self._ref(obj, "order")

    def get_envelope_id(self, obj) -> int | None:
        return self._ref(obj, "red_envelope")

    def get_withdrawal_id(self, obj) -> int | None:
        return self._ref(obj, "withdrawal")


class WalletEntryListApi(ListAPIView):
    serializer_class = WalletEntryOutput

    def get_queryset(self):
        return wallet_entry_list(user_id=self.request.user.pk)
