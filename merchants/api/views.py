from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.api.permissions import MERCHANT_STAFF, MERCHANT_STAFF_ANY_STATUS
from merchants.selectors import merchant_deposit_coverage
from merchants.services import deposit_payment_create, merchant_apply, merchant_return_address_set
from merchants.services.deposits import DEPOSIT_PAYMENT_MAX_FEN, DEPOSIT_PAYMENT_MIN_FEN
from merchants.services.exit import refund_due_at
from products.models import Category
from shop.api.idempotency import idempotent
from shop.api.serializers import Serializer
from shop.payments.gateways.registry import default_gateway_name
from shop.payments.services import payment_client_params


class DepositPaymentOutput(Serializer):
    id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    gateway = serializers.CharField()
    params = serializers.DictField()


class MerchantApplicationApi(APIView):
    class InputSerializer(Serializer):
        company_name = serializers.CharField(max_length=120)
        licence_no = serializers.CharField(max_length=64)
        contact_phone = serializers.CharField(max_length=32)
        category_ids = serializers.PrimaryKeyRelatedField(
            queryset=Category.objects.all(), many=True, allow_empty=False
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "MerchantApplication", {"id": serializers.IntegerField(), "status": serializers.CharField()}
            )
        },
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        merchant = merchant_apply(
            applicant=request.user,
            company_name=data["company_name"],
            licence_no=data["licence_no"],
            contact_phone=data["contact_phone"],
            category_ids=[c.pk for c in data["category_ids"]],
        )
        return Response({"id": merchant.pk, "status": merchant.status}, status=status.HTTP_201_CREATED)


def merchant_profile_body(merchant) -> dict:
    """Status, deposit balance and what each of the merchant's categories requires."""
    coverage = merchant_deposit_coverage(merchant=merchant)
    required = [
        {
            "category_id": c.category_id,
            "name": c.name,
            "deposit_fen": c.deposit_fen,
            "covered": c.covered,
            "commission_min_bps": c.commission_min_bps,
            "commission_max_bps": c.commission_max_bps,
        }
        for c in coverage.categories
    ]
    due = refund_due_at(merchant)
    return {
        "id": merchant.pk,
        "company_name": merchant.company_name,
        "status": merchant.status,
        "rejection_reason": merchant.rejection_reason,
        "deposit_balance_fen": coverage.balance_fen,
        "deposit_frozen": coverage.frozen,
        "required_deposits": required,
        "exit_requested_at": merchant.exit_requested_at,
        "deposit_refund_due_at": due,
        "return_address": merchant.return_address,
    }


class RequiredDepositOutput(Serializer):
    category_id = serializers.IntegerField()
    name = serializers.CharField()
    deposit_fen = serializers.IntegerField(help_text="The category's deposit standard.")
    covered = serializers.BooleanField(help_text="The deposit held covers this category's standard.")
    commission_min_bps = serializers.IntegerField()
    commission_max_bps = serializers.IntegerField()


class ReturnAddressSerializer(Serializer):
    """Where buyers send approved returns."""

    name = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=32)
    region = serializers.CharField(max_length=120)
    detail = serializers.CharField(max_length=255)


MERCHANT_PROFILE = inline_serializer(
    "MerchantProfile",
    {
        "id": serializers.IntegerField(),
        "company_name": serializers.CharField(),
        "status": serializers.CharField(),
        "rejection_reason": serializers.CharField(),
        "deposit_balance_fen": serializers.IntegerField(),
        "deposit_frozen": serializers.BooleanField(help_text="A dispute is open: no refund."),
        "required_deposits": RequiredDepositOutput(many=True),
        "exit_requested_at": serializers.DateTimeField(allow_null=True),
        "deposit_refund_due_at": serializers.DateTimeField(allow_null=True),
        "return_address": ReturnAddressSerializer(allow_null=True),
    },
)


class MerchantProfileApi(APIView):
    permission_classes = MERCHANT_STAFF_ANY_STATUS

    class PatchSerializer(Serializer):
        return_address = ReturnAddressSerializer(required=False)

    @extend_schema(responses=MERCHANT_PROFILE)
    def get(self, request):
        merchant = request.merchant
        return Response(merchant_profile_body(merchant))

    @extend_schema(request=PatchSerializer, responses=MERCHANT_PROFILE)
    def patch(self, request):
        """Set what staff may change of the profile: the return address."""
        payload = self.PatchSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        merchant = request.merchant
        if "return_address" in payload.validated_data:  # a PATCH: what is not sent stays
            merchant = merchant_return_address_set(
                merchant_id=merchant.pk,
                address=dict(payload.validated_data["return_address"]),
                actor=request.user,
            )
        return Response(merchant_profile_body(merchant))


class MerchantDepositCreateApi(APIView):
    permission_classes = MERCHANT_STAFF

    class InputSerializer(Serializer):
        amount_fen = serializers.IntegerField(
            min_value=DEPOSIT_PAYMENT_MIN_FEN, max_value=DEPOSIT_PAYMENT_MAX_FEN
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("DepositPayment", {"payment": DepositPaymentOutput()})},
    )
    @idempotent("merchant-deposits")
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        merchant = request.merchant
        payment = deposit_payment_create(
            merchant=merchant,
            payer=request.user,
            amount_fen=payload.validated_data["amount_fen"],
            gateway=default_gateway_name(),
        )
        params = payment_client_params(payment=payment, openid=request.user.openid)
        body = {
            "payment": {
                "id": payment.pk,
                "amount_fen": payment.amount_fen,
                "gateway": payment.gateway,
                "params": params,
            }
        }
        return Response(body, status=status.HTTP_201_CREATED)
