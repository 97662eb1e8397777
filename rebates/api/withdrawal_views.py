from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from rebates.models import Withdrawal
from rebates.selectors import withdrawal_list_for_user
from rebates.services.withdrawals import withdrawal_create
from shop.api.idempotency import idempotent
from shop.api.serializers import Serializer
from shop.api.throttling import UserScopedRateThrottle
from shop.payments.models import Payout
from shop.payments.payouts import payout_send


@extend_schema_field(
    {
        "type": "integer",
        "format": "int64",
        "minimum": settings.SHOP_RULES["WITHDRAWAL_MIN_FEN"],
        "maximum": settings.SHOP_RULES["WITHDRAWAL_DAILY_LIMIT_FEN"],
        "description": "Fen. At least the minimum withdrawal and at most one day's limit "
        "(with what is already on its way today).",
    }
)
class WithdrawalAmountField(serializers.IntegerField):
    """The amount of a withdrawal. Its rules are the service's (``withdrawal_create``: below
    the minimum 400 ``withdrawal_too_small``, over the day's limit 409
    ``withdrawal_daily_limit``); the schema states them as ``minimum`` and ``maximum``."""


class WithdrawalOutput(Serializer):
    id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    status = serializers.CharField()
    package_info = serializers.SerializerMethodField(
        help_text="For wx.requestMerchantTransfer while the transfer waits for the member's confirmation."
    )
    mch_id = serializers.SerializerMethodField()
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_package_info(self, obj: Withdrawal) -> str | None:
        payout = obj.payout
        if payout is None or payout.state != Payout.State.WAIT_USER_CONFIRM or not payout.package_info:
            return None
        return payout.package_info

    def get_mch_id(self, obj: Withdrawal) -> str | None:
        return (getattr(settings, "WECHATPAY", {}) or {}).get("MCHID") or None


class WithdrawalListCreateApi(ListAPIView):
    """``GET``: my withdrawals, newest first. ``POST {amount_fen}``: withdraw to WeChat.

    The money is held when the withdrawal is recorded; the transfer is then asked for
    right here, after that commit (no lock held across the gateway call), so the answer
    usually carries the ``package_info`` the mini-program needs. If the gateway cannot be
    reached the withdrawal stays ``processing`` and the sweeper sends it.
    """

    serializer_class = WithdrawalOutput
    throttle_scope = "withdrawal_create"  # per user, on POST only

    def get_throttles(self):
        return [UserScopedRateThrottle()] if self.request.method == "POST" else []

    class InputSerializer(Serializer):
        amount_fen = WithdrawalAmountField(min_value=1, max_value=10**12)

    def get_queryset(self):
        return withdrawal_list_for_user(user_id=self.request.user.pk)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: WithdrawalOutput,
            503: OpenApiResponse(
                description="`service_unavailable`: a safety check (rate limit or Idempotency-Key) "
                "cannot run right now; nothing was done. Send the same request again after `Retry-After`."
            ),
        },
    )
    @idempotent("wallet-withdrawals")
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        withdrawal = withdrawal_create(user=request.user, amount_fen=payload.validated_data["amount_fen"])
        payout_send(payout_id=withdrawal.payout_id)
        withdrawal = withdrawal_list_for_user(user_id=request.user.pk).get(pk=withdrawal.pk)
        return Response(WithdrawalOutput(withdrawal).data, status=status.HTTP_201_CREATED)
