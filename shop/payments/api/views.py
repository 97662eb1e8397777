from __future__ import annotations

import logging

from django.conf import settings
from django.db import DataError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.errors import NotFound
from shop.payments.ecommerce_notices import ecommerce_refund_apply_notice, ecommerce_share_apply_notice
from shop.payments.errors import PaymentClosed
from shop.payments.gateways.base import InvalidCallback
from shop.payments.gateways.ecommerce import ecommerce_gateway_get
from shop.payments.gateways.registry import gateway_get
from shop.payments.models import Payment
from shop.payments.parts import payment_apply_ecommerce, payment_parts_sandbox_pay
from shop.payments.refunds import refund_apply_notice
from shop.payments.services import payment_apply_result

logger = logging.getLogger("shop.payments")


class RawBodyParser(BaseParser):
    """Gateways sign the exact bytes: keep them, parse nothing."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


NotifyAnswer = inline_serializer("GatewayNotifyAnswer", {"code": serializers.CharField()})


def apply_verified(apply, **kwargs):
    """Apply a verified callback; a value our columns cannot hold is refused, never a 500.

    The adapters check every field first (``gateways/fields.py``); this is the backstop for
    a field a future parser forgets. The transaction rolled back, so nothing was recorded
    and the answer is a 4xx: the gateway keeps retrying, and ops see the error logged.
    """
    try:
        return apply(**kwargs)
    except DataError as exc:
        logger.error("verified callback refused: a value does not fit our records (%s)", exc)
        raise InvalidCallback("Verified, but a value does not fit our records.") from exc


class CallbackApi(APIView):
    """A gateway's callback: no token (the signature is the authentication), no throttle (the
    gateway retries until answered), the raw body (the signature covers its bytes)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBodyParser]
    throttle_classes: list = []


class PaymentNotifyApi(CallbackApi):
    """Gateway callback. No token: the signature is the authentication."""

    @extend_schema(
        request=None, responses={200: NotifyAnswer, 401: OpenApiResponse(description="Bad signature")}
    )
    def post(self, request, gateway: str):
        adapter = gateway_get(gateway)
        result = adapter.parse_payment_callback(headers=dict(request.headers), body=request.body)
        apply_verified(payment_apply_result, gateway=adapter.name, result=result)
        return Response({"code": "SUCCESS"})


class EcommercePaymentNotifyApi(CallbackApi):
    """The e-commerce gateway's payment callback (partner or combined, every part at once).
    No token: the signature is the authentication; every field is checked by the adapter
    (``gateways/fields.py``), so no field can make a 500."""

    @extend_schema(
        request=None, responses={200: NotifyAnswer, 401: OpenApiResponse(description="Bad signature")}
    )
    def post(self, request, gateway: str):
        adapter = ecommerce_gateway_get(gateway)
        result = adapter.parse_payment_callback(headers=dict(request.headers), body=request.body)
        apply_verified(payment_apply_ecommerce, gateway=adapter.name, result=result)
        return Response({"code": "SUCCESS"})


class RefundNotifyApi(CallbackApi):
    """Refund callback (WeChat's ``REFUND.*`` notifications). No token: the signature is the
    authentication. Applied once; a duplicate is answered with success and changes nothing;
    a forged one is 401 and an unknown refund 404, both writing nothing."""

    @extend_schema(
        request=None,
        responses={
            200: NotifyAnswer,
            401: OpenApiResponse(description="Bad signature"),
            404: OpenApiResponse(description="Unknown refund"),
        },
    )
    def post(self, request, gateway: str):
        adapter = gateway_get(gateway)
        notice = adapter.parse_refund_callback(headers=dict(request.headers), body=request.body)
        apply_verified(refund_apply_notice, gateway=adapter.name, notice=notice)
        return Response({"code": "SUCCESS"})


class EcommerceRefundNotifyApi(CallbackApi):
    """The e-commerce gateway's refund callback (``REFUND.*`` of a shared payment's refund,
    sent to the ``notify_url`` of our refund requests). No token: the signature is the
    authentication; every field is checked by the adapter. Applied through ``refund_apply``
    as polling's answer is, once; a duplicate or late one is answered success and changes
    nothing; forged: 401, unknown refund: 404, one that does not match our refund: 409, each
    writing nothing (WeChat retries; the sweeper's polling decides meanwhile)."""

    @extend_schema(
        request=None,
        responses={
            200: NotifyAnswer,
            401: OpenApiResponse(description="Bad signature, or a field that does not fit"),
            404: OpenApiResponse(description="Unknown refund"),
            409: OpenApiResponse(description="Does not match our refund"),
        },
    )
    def post(self, request, gateway: str):
        adapter = ecommerce_gateway_get(gateway)
        notice = adapter.parse_refund_callback(headers=dict(request.headers), body=request.body)
        apply_verified(ecommerce_refund_apply_notice, gateway=adapter.name, notice=notice)
        return Response({"code": "SUCCESS"})


class EcommerceProfitSharingNotifyApi(CallbackApi):
    """The e-commerce gateway's profit-sharing callback (分账动账通知, ``PROFITSHARING.SUCCESS``
    / ``.RETURN``), sent to our platform account as the shares' receiver. No token: the
    signature is the authentication; every field is checked by the adapter. Confirms the
    share or share-return step as polling does, once; a duplicate or late one is answered
    success and changes nothing; forged: 401, unknown step: 404, one that does not match
    our step: 409, each writing nothing."""

    @extend_schema(
        request=None,
        responses={
            200: NotifyAnswer,
            401: OpenApiResponse(description="Bad signature, or a field that does not fit"),
            404: OpenApiResponse(description="Unknown share or share return"),
            409: OpenApiResponse(description="Does not match our share or share return"),
        },
    )
    def post(self, request, gateway: str):
        adapter = ecommerce_gateway_get(gateway)
        notice = adapter.parse_profit_share_callback(headers=dict(request.headers), body=request.body)
        apply_verified(ecommerce_share_apply_notice, gateway=adapter.name, notice=notice)
        return Response({"code": "SUCCESS"})


class SandboxPayApi(APIView):
    """``SANDBOX`` only: the payer 'pays'; a signed success callback is applied in-process."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "SandboxPayAnswer",
            {
                "payment_id": serializers.IntegerField(),
                "status": serializers.CharField(),
                "outcome": serializers.CharField(),
            },
        ),
    )
    def post(self, request, payment_id: int):
        if not settings.SANDBOX:
            raise NotFound("No such URL.")
        payment = Payment.objects.filter(pk=payment_id, payer=request.user, gateway="sandbox").first()
        if payment is None:
            raise NotFound("No such payment.")
        if payment.status == Payment.Status.CLOSED:
            # The sandbox 'bank' refuses a closed payment as WeChat does (ORDERCLOSED); a
            # callback that still arrives after close is the gateway's race, handled in
            # payment_apply_result, not something a payer can ask for.
            raise PaymentClosed()
        if payment.is_shared:
            outcome = payment_parts_sandbox_pay(payment)
            payment.refresh_from_db(fields=["status"])
            return Response({"payment_id": payment.pk, "status": payment.status, "outcome": str(outcome)})
        gateway = gateway_get("sandbox")
        headers, body = gateway.build_success_callback(payment)
        result = gateway.parse_payment_callback(headers=headers, body=body)
        outcome = payment_apply_result(gateway="sandbox", result=result)
        payment.refresh_from_db(fields=["status"])
        return Response({"payment_id": payment.pk, "status": payment.status, "outcome": str(outcome)})
