from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from shop.payments.gateways.registry import gateway_get
from shop.payments.payouts import payout_apply

from .views import CallbackApi, NotifyAnswer, apply_verified


class PayoutNotifyApi(CallbackApi):
    """Transfer (payout) callback. No token: the signature is the authentication.

    A forged body answers 401 and writes nothing; a verified one is applied once, and a
    duplicate (gateways retry for 24 h) answers success and changes nothing.
    """

    @extend_schema(
        request=None, responses={200: NotifyAnswer, 401: OpenApiResponse(description="Bad signature")}
    )
    def post(self, request, gateway: str):
        adapter = gateway_get(gateway)
        news = adapter.parse_transfer_callback(headers=dict(request.headers), body=request.body)
        apply_verified(
            payout_apply,
            out_bill_no=news["out_bill_no"],
            state=news["state"],
            transfer_bill_no=news.get("transfer_bill_no", ""),
            fail_reason=news.get("fail_reason", ""),
            amount_fen=news.get("amount_fen"),
            gateway=adapter.name,
        )
        return Response({"code": "SUCCESS"})
