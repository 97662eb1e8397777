"""The coupon wallet: ``GET /coupons`` (mine, by status) and ``POST /coupons/redeem``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.models import Coupon
from orders.selectors import COUPON_WALLET_STATUSES, coupon_list_for_user, coupon_wallet_status
from orders.services.coupons import coupon_redeem
from shop.api.serializers import QuerySerializer, Serializer
from shop.api.throttling import UserScopedRateThrottle


class CouponOutput(Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    amount_fen = serializers.IntegerField()
    min_spend_fen = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    source = serializers.ChoiceField(choices=Coupon.Source.choices)
    valid_from = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=COUPON_WALLET_STATUSES))
    def get_status(self, coupon) -> str:
        return coupon_wallet_status(coupon, now=timezone.now())

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["title"] = data["title"] or dict(Coupon.Source.choices)[instance.source]
        return data


class CouponListApi(ListAPIView):
    """My coupons in one status (``usable`` by default): usable, locked by an unpaid
    order, used, or expired (withdrawn by ops shows as expired)."""

    serializer_class = CouponOutput

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=COUPON_WALLET_STATUSES, required=False, default="usable")

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return coupon_list_for_user(
            user=self.request.user, status=filters.validated_data["status"], now=timezone.now()
        )


class CouponRedeemApi(APIView):
    """Redeem an ops campaign's code: ``201`` with the coupon; ``404`` unknown code, ``409``
    redeemed already or none left. Throttled per user (codes are short)."""

    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "coupon_redeem"

    class InputSerializer(Serializer):
        code = serializers.CharField(max_length=32, trim_whitespace=False)  # the service trims

    @extend_schema(request=InputSerializer, responses={201: CouponOutput})
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        coupon = coupon_redeem(user=request.user, code=body.validated_data["code"])
        return Response(CouponOutput(coupon).data, status=status.HTTP_201_CREATED)
