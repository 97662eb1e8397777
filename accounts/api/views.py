from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.privacy import user_data_export, user_erase
from accounts.profile import me_fields
from accounts.services import user_login_with_code
from shop.api.confirm import confirmation_schema, require_confirmation
from shop.api.serializers import Serializer, http_url
from shop.api.throttling import ClientAddressRateThrottle


class LoginThrottle(ClientAddressRateThrottle):
    """Per client address. The rate is read from ``DEFAULT_THROTTLE_RATES["login"]`` at each
    request (``THROTTLE_RATE_LOGIN``), so ops can tighten it and tests can set their own.
    With the cache down it fails open (logged, counted): logging in moves no money."""

    scope = "login"

    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope, "30/minute")


class UserBrief(Serializer):
    id = serializers.IntegerField()
    nickname = serializers.CharField()


class WechatLoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    class InputSerializer(Serializer):
        code = serializers.CharField(max_length=200)
        nickname = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
        avatar_url = serializers.URLField(
            max_length=500, required=False, allow_blank=True, default="", validators=[http_url]
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("LoginAnswer", {"token": serializers.CharField(), "user": UserBrief()}),
            400: OpenApiResponse(description="`login_failed`: WeChat refused the code; get a fresh one."),
            503: OpenApiResponse(
                description="`service_unavailable`: WeChat could not check the code; see `Retry-After`."
            ),
        },
        auth=[],
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user, token = user_login_with_code(**payload.validated_data)
        return Response({"token": token, "user": {"id": user.pk, "nickname": user.nickname}})


class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.IntegerField(),
                "nickname": serializers.CharField(),
                "merchant_id": serializers.IntegerField(allow_null=True),
                "is_leader": serializers.BooleanField(),
            },
        )
    )
    def get(self, request):
        user = request.user
        return Response({"id": user.pk, "nickname": user.nickname, **me_fields(user)})

    @extend_schema(
        request=confirmation_schema("delete", name="AccountDeleteInput"),
        responses={
            204: None,
            400: OpenApiResponse(description="No {confirm: delete}: nothing done"),
            409: OpenApiResponse(description="Orders, after-sales, money or staff duties still open (named)"),
        },
    )
    def delete(self, request):
        """Erase my account (PIPL): personal fields erased or pseudonymised, every token
        revoked; orders and ledger lines kept, tied to the pseudonymised user. Refused (409,
        each reason named) while orders, after-sales, money or staff duties are open."""
        require_confirmation(request, word="delete")
        user_erase(user_id=request.user.pk)
        return Response(status=204)


class MeExportApi(APIView):
    """``GET /me/export``: everything we hold about me, as JSON (PIPL's right to a copy):
    profile, stores, memberships, orders, addresses, after-sales, wallet lines, withdrawals,
    merchant staff; each app contributes its section (``accounts/privacy.py``)."""

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="My data, by section")})
    def get(self, request):
        return Response(user_data_export(user=request.user))
