"""Merchant console: products, SKUs, stock uploads, deposit history, exit, staff.

Every view finds the caller's merchant first (403 for anyone who is not staff of an
approved merchant) and then only that merchant's objects (404 for anyone else's).
"""

from __future__ import annotations

from django.core.validators import URLValidator
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from products.models import Product
from products.selectors import product_get_for_merchant, product_list_for_merchant, sku_get_for_merchant
from products.services import PRICE_MAX_FEN, STOCK_MAX
from shop.api.confirm import confirmation_schema, require_confirmation
from shop.api.schema import NOT_BLANK
from shop.api.serializers import QuerySerializer, Serializer, http_url

from ..models import DepositMovement, MerchantStaff, StockUpload
from ..selectors import (
    deposit_movement_list_for_merchant,
    merchant_get_for_staff,
    merchant_require_owner,
    merchant_staff_get_for_merchant,
    merchant_staff_list,
    stock_upload_get_for_merchant,
    stock_upload_list_for_merchant,
)
from ..services import (
    merchant_exit_cancel,
    merchant_exit_request,
    merchant_product_create,
    merchant_product_update,
    merchant_sku_create,
    merchant_sku_update,
    merchant_staff_invite,
    merchant_staff_leave,
    merchant_staff_remove,
    staff_invitation_accept,
    stock_upload_run,
)
from .permissions import MERCHANT_STAFF, MERCHANT_STAFF_ANY_STATUS
from .serializers import (
    DepositMovementOutput,
    MerchantProductOutput,
    MerchantSkuOutput,
    StaffInvitationOutput,
    StaffOutput,
    StockUploadOutput,
)
from .views import MERCHANT_PROFILE, merchant_profile_body

SPEC_MAX_KEYS = 10


def _spec(value: dict) -> dict:
    if len(value) > SPEC_MAX_KEYS:
        raise serializers.ValidationError(f"At most {SPEC_MAX_KEYS} spec values.")
    for key in value:
        if not str(key).strip() or len(str(key)) > 20:
            raise serializers.ValidationError("Spec names are 1 to 20 characters.")
    return value


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": SPEC_MAX_KEYS,
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": NOT_BLANK},
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": NOT_BLANK},
    }
)
class SpecField(serializers.DictField):
    """A SKU's spec values by name (``{"颜色": "红"}``): the rules of ``_spec``, stated in the schema."""


class SkuInput(Serializer):
    code = serializers.CharField(max_length=64)
    spec = SpecField(child=serializers.CharField(max_length=50), required=False, validators=[_spec])
    price_fen = serializers.IntegerField(min_value=1, max_value=PRICE_MAX_FEN)
    stock = serializers.IntegerField(
        min_value=0, max_value=STOCK_MAX, required=False, help_text="Units on hand (absolute)."
    )
    commission_bps = serializers.IntegerField(min_value=0, max_value=10_000)
    team_price_fen = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    team_size = serializers.IntegerField(min_value=2, max_value=10, required=False, allow_null=True)


def sku_service_data(validated: dict) -> dict:
    """``SkuInput``'s data as the SKU services take it (the API's ``stock`` is ``on_hand``);
    the console's SKU forms use it too."""
    data = dict(validated)
    if "stock" in data:
        data["on_hand"] = data.pop("stock")
    return data


_image_url = URLValidator(schemes=["http", "https"])


class MerchantProductListApi(GenericAPIView):
    permission_classes = MERCHANT_STAFF

    serializer_class = MerchantProductOutput
    queryset = Product.objects.none()  # for the schema; the view reads through selectors

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Product.Status.choices, required=False)
        q = serializers.CharField(required=False, max_length=100, allow_blank=True)

    class InputSerializer(Serializer):
        title = serializers.CharField(max_length=120)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
        category_id = serializers.IntegerField(min_value=1)
        images = serializers.ListField(
            child=serializers.CharField(max_length=500, validators=[_image_url, http_url]),
            required=False,
            default=list,
            max_length=9,
        )
        skus = serializers.ListField(child=SkuInput(), required=False, default=list, max_length=100)

    @extend_schema(parameters=[FilterSerializer], responses=MerchantProductOutput(many=True))
    def get(self, request):
        merchant = request.merchant
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        products = product_list_for_merchant(
            merchant_id=merchant.pk,
            status=filters.validated_data.get("status"),
            q=filters.validated_data.get("q") or None,
        )
        page = self.paginate_queryset(products)
        return self.get_paginated_response(MerchantProductOutput(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: MerchantProductOutput})
    def post(self, request):
        merchant = request.merchant
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        product = merchant_product_create(
            merchant=merchant,
            category_id=data["category_id"],
            title=data["title"],
            description=data["description"],
            images=data["images"],
            skus=[sku_service_data(s) for s in data["skus"]],
            actor=request.user,
        )
        product = product_get_for_merchant(merchant_id=merchant.pk, product_id=product.pk)
        return Response(MerchantProductOutput(product).data, status=status.HTTP_201_CREATED)


class MerchantProductDetailApi(APIView):
    permission_classes = MERCHANT_STAFF

    class InputSerializer(Serializer):
        title = serializers.CharField(max_length=120, required=False)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
        category_id = serializers.IntegerField(min_value=1, required=False)
        images = serializers.ListField(
            child=serializers.CharField(max_length=500, validators=[_image_url, http_url]),
            required=False,
            max_length=9,
        )
        status = serializers.ChoiceField(
            choices=[Product.Status.ON_SALE, Product.Status.OFF_SALE],
            required=False,
            help_text="on_sale publishes (409 deposit_short when the deposit does not cover the category).",
        )

    @extend_schema(responses=MerchantProductOutput)
    def get(self, request, product_id: int):
        merchant = request.merchant
        product = product_get_for_merchant(merchant_id=merchant.pk, product_id=product_id)
        return Response(MerchantProductOutput(product).data)

    @extend_schema(request=InputSerializer, responses=MerchantProductOutput)
    def patch(self, request, product_id: int):
        merchant = request.merchant
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        product = merchant_product_update(
            merchant=merchant, product_id=product_id, actor=request.user, **payload.validated_data
        )
        return Response(MerchantProductOutput(product).data)


class MerchantSkuCreateApi(APIView):
    permission_classes = MERCHANT_STAFF

    @extend_schema(request=SkuInput, responses={201: MerchantSkuOutput})
    def post(self, request, product_id: int):
        merchant = request.merchant
        payload = SkuInput(data=request.data)
        payload.is_valid(raise_exception=True)
        sku = merchant_sku_create(
            merchant=merchant,
            product_id=product_id,
            data=sku_service_data(payload.validated_data),
            actor=request.user,
        )
        return Response(MerchantSkuOutput(sku).data, status=status.HTTP_201_CREATED)


class MerchantSkuDetailApi(APIView):
    permission_classes = MERCHANT_STAFF

    @extend_schema(responses=MerchantSkuOutput)
    def get(self, request, sku_id: int):
        merchant = request.merchant
        return Response(MerchantSkuOutput(sku_get_for_merchant(merchant_id=merchant.pk, sku_id=sku_id)).data)

    @extend_schema(request=SkuInput(partial=True), responses=MerchantSkuOutput)
    def patch(self, request, sku_id: int):
        merchant = request.merchant
        payload = SkuInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        sku = merchant_sku_update(
            merchant=merchant,
            sku_id=sku_id,
            changes=sku_service_data(payload.validated_data),
            actor=request.user,
        )
        return Response(MerchantSkuOutput(sku).data)


class MerchantStockUploadListApi(GenericAPIView):
    permission_classes = MERCHANT_STAFF

    # The one view that takes a file: multipart here, JSON (the default) everywhere else.
    parser_classes = [MultiPartParser]
    serializer_class = StockUploadOutput
    queryset = StockUpload.objects.none()

    class InputSerializer(Serializer):
        file = serializers.FileField(
            allow_empty_file=True, help_text="CSV or XLSX with columns sku_code, stock."
        )
        dry_run = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses=StockUploadOutput(many=True))
    def get(self, request):
        merchant = request.merchant
        page = self.paginate_queryset(stock_upload_list_for_merchant(merchant_id=merchant.pk))
        return self.get_paginated_response(StockUploadOutput(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={
            201: StockUploadOutput,
            400: OpenApiResponse(description="The file cannot be used at all; nothing applied"),
        },
    )
    def post(self, request):
        merchant = request.merchant
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        record = stock_upload_run(
            merchant_id=merchant.pk,
            fileobj=upload.file,
            filename=upload.name,
            size=upload.size,
            actor=request.user,
            dry_run=payload.validated_data["dry_run"],
        )
        return Response(StockUploadOutput(record).data, status=status.HTTP_201_CREATED)


class MerchantStockUploadDetailApi(APIView):
    permission_classes = MERCHANT_STAFF

    @extend_schema(responses=StockUploadOutput)
    def get(self, request, upload_id: int):
        merchant = request.merchant
        upload = stock_upload_get_for_merchant(merchant_id=merchant.pk, upload_id=upload_id)
        return Response(StockUploadOutput(upload).data)


class MerchantDepositMovementListApi(GenericAPIView):
    permission_classes = MERCHANT_STAFF_ANY_STATUS

    serializer_class = DepositMovementOutput
    queryset = DepositMovement.objects.none()

    @extend_schema(responses=DepositMovementOutput(many=True))
    def get(self, request):
        merchant = request.merchant
        page = self.paginate_queryset(
            deposit_movement_list_for_merchant(merchant_id=merchant.pk, viewer=request.user)
        )
        return self.get_paginated_response(DepositMovementOutput(page, many=True).data)


class MerchantExitApi(APIView):
    """The owner asks to leave: every listing goes off sale at once. Destructive, so the body
    must say ``{"confirm": "exit"}`` (anything else, an unreadable body included: 400)."""

    @extend_schema(
        request=confirmation_schema("exit", name="MerchantExitInput"),
        responses={
            200: OpenApiResponse(MERCHANT_PROFILE, description="The merchant profile, now leaving"),
            400: OpenApiResponse(description="No {confirm: exit}: nothing done"),
        },
    )
    def post(self, request):
        merchant = merchant_get_for_staff(user=request.user)
        merchant_require_owner(merchant=merchant, user=request.user)
        require_confirmation(request, word="exit")
        merchant = merchant_exit_request(merchant_id=merchant.pk, actor=request.user)
        return Response(merchant_profile_body(merchant))


class MerchantExitCancelApi(APIView):
    """The owner withdraws a request to leave, before the deposit refund has started
    (409 ``merchant_not_exiting`` or ``deposit_refund_in_progress`` otherwise). Listings
    stay off sale; the merchant publishes them again. Withdrawing twice is a no-op."""

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(MERCHANT_PROFILE, description="The merchant profile, approved again")
        },
    )
    def post(self, request):
        merchant = merchant_get_for_staff(user=request.user)
        merchant_require_owner(merchant=merchant, user=request.user)
        merchant = merchant_exit_cancel(merchant_id=merchant.pk, actor=request.user)
        return Response(merchant_profile_body(merchant))


class MerchantStaffListApi(GenericAPIView):
    """``GET /merchant/staff``: the merchant's staff, paginated like every list. People join
    only by accepting an owner's invitation (``POST /merchant/staff/invitations``)."""

    serializer_class = StaffOutput
    queryset = MerchantStaff.objects.none()

    @extend_schema(responses=StaffOutput(many=True))
    def get(self, request):
        merchant = merchant_get_for_staff(user=request.user, approved=False)
        page = self.paginate_queryset(merchant_staff_list(merchant_id=merchant.pk))
        return self.get_paginated_response(StaffOutput(page, many=True).data)


class MerchantStaffInvitationCreateApi(APIView):
    """An owner invites someone in a role: the code is shown once, valid 72 h, single use."""

    class InputSerializer(Serializer):
        role = serializers.ChoiceField(choices=MerchantStaff.Role.choices)

    @extend_schema(request=InputSerializer, responses={201: StaffInvitationOutput})
    def post(self, request):
        merchant = merchant_get_for_staff(user=request.user)
        merchant_require_owner(merchant=merchant, user=request.user)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        invitation, code = merchant_staff_invite(
            merchant=merchant, role=payload.validated_data["role"], actor=request.user
        )
        body = {
            "id": invitation.pk,
            "code": code,
            "role": invitation.role,
            "expires_at": invitation.expires_at,
        }
        return Response(StaffInvitationOutput(body).data, status=status.HTTP_201_CREATED)


class StaffInvitationAcceptApi(APIView):
    """The invited person accepts, while logged in: they join the merchant in the invited
    role. 409 ``staff_of_another_merchant`` when they already work for another merchant."""

    class InputSerializer(Serializer):
        code = serializers.CharField(max_length=64)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "StaffInvitationAccepted",
                {"merchant_id": serializers.IntegerField(), "role": serializers.CharField()},
            ),
            404: OpenApiResponse(description="Unknown code"),
            409: OpenApiResponse(description="Used, or already staff of another merchant"),
            410: OpenApiResponse(description="Expired"),
        },
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        staff = staff_invitation_accept(user=request.user, code=payload.validated_data["code"])
        return Response({"merchant_id": staff.merchant_id, "role": staff.role})


class MerchantStaffDetailApi(APIView):
    """An owner removes a staff member; the body must say ``{"confirm": "remove"}``."""

    @extend_schema(request=confirmation_schema("remove", name="StaffRemoveInput"), responses={204: None})
    def delete(self, request, staff_id: int):
        merchant = merchant_get_for_staff(user=request.user)
        merchant_require_owner(merchant=merchant, user=request.user)
        merchant_staff_get_for_merchant(
            merchant_id=merchant.pk, staff_id=staff_id
        )  # someone else's: 404 first
        require_confirmation(request, word="remove")
        merchant_staff_remove(merchant=merchant, staff_id=staff_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MerchantStaffLeaveApi(APIView):
    """The caller leaves their merchant; the body must say ``{"confirm": "leave"}``. The
    last owner of a merchant still on the platform cannot (409 ``last_owner``)."""

    @extend_schema(request=confirmation_schema("leave", name="StaffLeaveInput"), responses={204: None})
    def delete(self, request):
        merchant_get_for_staff(user=request.user, approved=False)
        require_confirmation(request, word="leave")
        merchant_staff_leave(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
