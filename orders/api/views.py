from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from groupstore.services import pickup_point_for_checkout
from merchants.api.permissions import MERCHANT_STAFF
from orders.models import AfterSale, Order
from orders.selectors import (
    after_sale_get_for_buyer,
    after_sale_get_for_merchant,
    after_sale_list_for_merchant,
    order_get_after_leader_write,
    order_get_for_buyer,
    order_get_for_merchant,
    order_list_for_buyer,
    order_list_for_leader,
    order_list_for_merchant,
    pickup_get_for_buyer,
    team_get_public,
)
from orders.services.after_sales import (
    CaseItem,
    after_sale_approve,
    after_sale_escalate,
    after_sale_open,
    after_sale_post_return,
    after_sale_reject,
    after_sale_return_received,
    after_sale_withdraw,
)
from orders.services.checkout import checkout_quote, order_place, order_quote
from orders.services.flash import flash_sold_out_early
from orders.services.lifecycle import (
    CARRIER_MAX_LENGTH,
    TRACKING_NO_PATTERN,
    order_cancel,
    order_confirm_receipt,
    order_mark_invoiced,
    order_ship,
)
from orders.services.pickups import pickup_mark_arrived, pickup_redeem
from shop.api.confirm import confirmation_schema, require_confirmation
from shop.api.idempotency import idempotent
from shop.api.serializers import FieldsBuiltOnceMixin, IdField, QuerySerializer, Serializer
from shop.payments.gateways.registry import default_gateway_name
from shop.payments.services import payment_client_params

from .flash_early import one_item_basket
from .serializers import (
    DELIVERY_TYPES,
    AddressSerializer,
    AfterSaleOutput,
    BuyerPickupOutput,
    LeaderOrderOutput,
    MerchantOrderOutput,
    OrderOutput,
    TeamOutput,
    order_placed_output,
)


class CheckoutItemInput(FieldsBuiltOnceMixin, Serializer):
    sku_id = IdField()
    qty = serializers.IntegerField(min_value=1, max_value=settings.SHOP_RULES["MAX_ORDER_QTY"])


_TEAM_ID = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}


@extend_schema_field(
    {
        "description": '``{"open": true}`` (optionally ``"new_customers_only": true``) '
        'or ``{"join": <team_id>}``.',
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "open": {"type": "boolean", "enum": [True]},
                    "new_customers_only": {"type": "boolean"},
                },
                "required": ["open"],
                "not": {"required": ["join"]},
            },
            {
                "type": "object",
                "properties": {
                    "join": _TEAM_ID,
                    "open": {"type": "boolean", "enum": [False]},
                    "new_customers_only": {"type": "boolean", "enum": [False]},
                },
                "required": ["join"],
            },
        ],
    }
)
class TeamInput(FieldsBuiltOnceMixin, Serializer):
    """``{"open": true}`` (optionally ``"new_customers_only": true``) or ``{"join": <team_id>}``;
    the schema states the same rule (``validate``) as its ``oneOf``."""

    open = serializers.BooleanField(required=False)
    join = IdField(required=False)
    new_customers_only = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if bool(attrs.get("open")) == bool(attrs.get("join")):
            raise serializers.ValidationError('Send either {"open": true} or {"join": <team id>}.')
        if attrs.get("join") and attrs.get("new_customers_only"):
            raise serializers.ValidationError("Only the team's opener sets new_customers_only.")
        return attrs


class QuoteInput(FieldsBuiltOnceMixin, Serializer):
    store_id = IdField()
    items = CheckoutItemInput(many=True, allow_empty=False, max_length=50)
    coupon_id = IdField(required=False, allow_null=True)
    team = TeamInput(required=False, allow_null=True)


class QuoteLineOutput(Serializer):
    sku_id = serializers.IntegerField(source="sku.pk")
    merchant_id = serializers.IntegerField(source="sku.merchant_id")
    qty = serializers.IntegerField()
    price_kind = serializers.CharField()
    list_price_fen = serializers.IntegerField()
    unit_price_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    sale_fen = serializers.IntegerField()
    coupon_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    flash_offer_id = serializers.IntegerField(source="flash_offer.pk", allow_null=True, default=None)


class QuoteCouponOutput(Serializer):
    id = serializers.IntegerField(source="pk")
    amount_fen = serializers.IntegerField()
    min_spend_fen = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class QuoteTeamOutput(Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null when this checkout opens a new team.")
    size = serializers.IntegerField()
    members_count = serializers.IntegerField()
    status = serializers.CharField(help_text='"new" when this checkout opens the team.')
    expires_at = serializers.DateTimeField(allow_null=True)
    new_customers_only = serializers.SerializerMethodField()

    def get_new_customers_only(self, team) -> bool:
        return team.team.new_customers_only if team.team else team.new_customers_only


class QuoteOutput(Serializer):
    store_id = serializers.IntegerField()
    lines = QuoteLineOutput(many=True)
    list_fen = serializers.IntegerField()
    sale_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    coupon_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    coupon = QuoteCouponOutput(allow_null=True)
    team = QuoteTeamOutput(allow_null=True)


class CheckoutQuoteApi(APIView):
    @extend_schema(request=QuoteInput, responses=QuoteOutput)
    def post(self, request):
        payload = QuoteInput(data=request.data)
        payload.is_valid(raise_exception=True)
        quote = checkout_quote(buyer=request.user, **payload.validated_data)
        return Response(QuoteOutput(quote).data)


class PickupDeliveryInput(Serializer):
    type = serializers.ChoiceField(choices=["pickup"])
    pickup_point_id = IdField()


class OrderCreateInput(QuoteInput):
    """The body of ``POST /orders``, as documented. The view checks it in two parts: the
    basket (``QuoteInput``) first, the address (``OrderAddressInput``) once the basket can
    be bought — a bad body is still reported whole, in one 400. Either ``address`` or
    ``delivery: {"type": "pickup", "pickup_point_id"}`` (the store's leader's point)."""

    address = AddressSerializer(required=False)
    delivery = PickupDeliveryInput(required=False)

    one_of_required = ("address", "delivery")  # the schema's oneOf; OrderAddressInput checks it


class OrderAddressInput(FieldsBuiltOnceMixin, Serializer):
    address = AddressSerializer(required=False)
    delivery = PickupDeliveryInput(required=False)

    def validate(self, attrs):
        if "address" in attrs and "delivery" in attrs:
            raise serializers.ValidationError({"delivery": ["Send an address or a pickup point, not both."]})
        if "address" not in attrs and "delivery" not in attrs:
            raise serializers.ValidationError({"address": ["This field is required."]})
        return attrs


class PaymentOutput(FieldsBuiltOnceMixin, Serializer):
    id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    gateway = serializers.CharField()
    params = serializers.DictField()


class OrderListCreateApi(ListAPIView):
    """``GET /orders``: mine, newest first; ``POST /orders``: check out."""

    serializer_class = OrderOutput

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Order.Status.choices, required=False)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return order_list_for_buyer(buyer=self.request.user, status=filters.validated_data.get("status"))

    @extend_schema(
        request=OrderCreateInput,
        description=(
            "Check out: one order per merchant under one payment. A body that fails validation "
            "is answered with one 400 listing every bad field, the address's included. A valid "
            "basket that cannot be bought (sold out, not a member, out of stock) is answered "
            "with its 403 or 409 before the address is checked. One item of a flash offer that "
            "this store's buyers were just told is sold out is answered `409 flash_sold_out` "
            "before anything else is checked, even a body that would fail validation and, "
            "without an `Idempotency-Key`, before the token is looked up (a well-formed "
            "unknown token may get that 409 instead of a 401; no token is always a 401)."
        ),
        responses={
            201: inline_serializer(
                "CheckoutCreated", {"orders": OrderOutput(many=True), "payment": PaymentOutput()}
            )
        },
    )
    @idempotent("orders")
    def post(self, request):
        peek = None if getattr(request, "flash_mark_read", False) else one_item_basket(request.data)
        if peek is not None:  # with an Idempotency-Key, or without FlashSoldOutMiddleware
            flash_sold_out_early(store_id=peek[0], sku_id=peek[1])
        basket, address = QuoteInput(data=request.data), OrderAddressInput(data=request.data)
        if not basket.is_valid():
            address.is_valid()
            raise serializers.ValidationError({**basket.errors, **address.errors})
        now = timezone.now()
        # Sold out, not a member, out of stock: answered before the address is looked at.
        quote = order_quote(buyer=request.user, now=now, **basket.validated_data)
        address.is_valid(raise_exception=True)
        delivery, point = address.validated_data.get("delivery"), None
        if delivery is not None:  # shipped to the store's leader's pickup point
            point = pickup_point_for_checkout(
                point_id=delivery["pickup_point_id"], store_owner_id=quote.store_owner_id
            )
        result = order_place(
            buyer=request.user,
            quote=quote,
            address=address.validated_data.get("address", {}),
            gateway=default_gateway_name(),
            now=now,
            pickup_point=point,
        )
        params = payment_client_params(payment=result.payment, openid=request.user.openid, parts=result.parts)
        body = {
            # As written (order_place returns them as a read would): no second read.
            "orders": [order_placed_output(read) for read in sorted(result.reads, key=lambda o: -o.pk)],
            "payment": {
                "id": result.payment.pk,
                "amount_fen": result.payment.amount_fen,
                "gateway": result.payment.gateway,
                "params": params,
            },
        }
        return Response(body, status=status.HTTP_201_CREATED)


class TeamDetailApi(APIView):
    """A team's public figures, for any signed-in shopper (the share card of a team):
    no member identities beyond nicknames, no orders, no addresses."""

    @extend_schema(responses=TeamOutput)
    def get(self, request, team_id: int):
        return Response(TeamOutput(team_get_public(team_id=team_id)).data)


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderOutput)
    def get(self, request, order_id: int):
        return Response(OrderOutput(order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class OrderCancelApi(APIView):
    @extend_schema(request=None, responses=OrderOutput)
    def post(self, request, order_id: int):
        order = order_get_for_buyer(buyer=request.user, order_id=order_id)
        order_cancel(order_id=order.pk, actor=request.user, note="Cancelled by the buyer")
        return Response(OrderOutput(order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class OrderConfirmReceiptApi(APIView):
    @extend_schema(request=None, responses=OrderOutput)
    def post(self, request, order_id: int):
        order = order_get_for_buyer(buyer=request.user, order_id=order_id)
        order_confirm_receipt(order_id=order.pk, actor=request.user)
        return Response(OrderOutput(order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class MerchantOrderListApi(ListAPIView):
    """The merchant's orders; ``pickup_point_id`` lists the parcels bound for one pickup point
    (each order's ``delivery.pickup_point`` carries the leader's contact for the carrier)."""

    permission_classes = MERCHANT_STAFF

    serializer_class = MerchantOrderOutput

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
        delivery_type = serializers.ChoiceField(choices=DELIVERY_TYPES, required=False)
        pickup_point_id = IdField(required=False)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        merchant = self.request.merchant
        data = filters.validated_data
        return order_list_for_merchant(
            merchant_id=merchant.pk,
            status=data.get("status"),
            pickup_point_id=data.get("pickup_point_id"),
            delivery_type=data.get("delivery_type"),
        ).select_related("buyer")


class MerchantOrderShipApi(APIView):
    permission_classes = MERCHANT_STAFF

    class InputSerializer(Serializer):
        carrier = serializers.CharField(max_length=CARRIER_MAX_LENGTH)
        tracking_no = serializers.RegexField(TRACKING_NO_PATTERN)

    @extend_schema(request=InputSerializer, responses=MerchantOrderOutput)
    def post(self, request, order_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        merchant = request.merchant
        order_ship(order_id=order_id, merchant_id=merchant.pk, actor=request.user, **payload.validated_data)
        return Response(
            MerchantOrderOutput(order_get_for_merchant(merchant_id=merchant.pk, order_id=order_id)).data
        )


class MerchantOrderInvoiceApi(APIView):
    permission_classes = MERCHANT_STAFF

    class InputSerializer(Serializer):
        invoice_no = serializers.CharField(max_length=64)

    @extend_schema(request=InputSerializer, responses=MerchantOrderOutput)
    def post(self, request, order_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        merchant = request.merchant
        order_mark_invoiced(
            order_id=order_id, merchant_id=merchant.pk, actor=request.user, **payload.validated_data
        )
        return Response(
            MerchantOrderOutput(order_get_for_merchant(merchant_id=merchant.pk, order_id=order_id)).data
        )


class AfterSaleItemInput(Serializer):
    order_item_id = IdField()
    qty = serializers.IntegerField(min_value=1, max_value=settings.SHOP_RULES["MAX_ORDER_QTY"])


class AfterSaleOpenApi(APIView):
    """``POST /orders/{id}/after-sales``: the buyer asks for a refund (or a return and refund)."""

    class InputSerializer(Serializer):
        type = serializers.ChoiceField(choices=AfterSale.Kind.choices)
        items = AfterSaleItemInput(many=True, allow_empty=False, max_length=50)
        amount_fen = serializers.IntegerField(min_value=1, max_value=10**12)
        reason = serializers.CharField(max_length=255)

    @extend_schema(request=InputSerializer, responses={201: AfterSaleOutput})
    def post(self, request, order_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        case = after_sale_open(
            order_id=order_id,
            buyer=request.user,
            kind=data["type"],
            items=[CaseItem(order_item_id=i["order_item_id"], qty=i["qty"]) for i in data["items"]],
            amount_fen=data["amount_fen"],
            reason=data["reason"],
        )
        return Response(AfterSaleOutput(case).data, status=status.HTTP_201_CREATED)


class AfterSaleDetailApi(APIView):
    @extend_schema(responses=AfterSaleOutput)
    def get(self, request, case_id: int):
        return Response(AfterSaleOutput(after_sale_get_for_buyer(buyer=request.user, case_id=case_id)).data)


class AfterSaleEscalateApi(APIView):
    """A rejected buyer asks the platform to decide (a dispute)."""

    class InputSerializer(Serializer):
        reason = serializers.CharField(max_length=255, required=False, default="")

    @extend_schema(request=InputSerializer, responses=AfterSaleOutput)
    def post(self, request, case_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        after_sale_escalate(case_id=case_id, buyer=request.user, **payload.validated_data)
        return Response(AfterSaleOutput(after_sale_get_for_buyer(buyer=request.user, case_id=case_id)).data)


class AfterSaleWithdrawApi(APIView):
    """The buyer gives up the case for good (it closes; no refund). Destructive, so the body
    must say ``{"confirm": "withdraw"}`` (400 otherwise, nothing done)."""

    @extend_schema(
        request=confirmation_schema("withdraw", name="AfterSaleWithdrawInput"), responses=AfterSaleOutput
    )
    def post(self, request, case_id: int):
        after_sale_get_for_buyer(buyer=request.user, case_id=case_id)  # someone else's: 404 first
        require_confirmation(request, word="withdraw")
        after_sale_withdraw(case_id=case_id, buyer=request.user)
        return Response(AfterSaleOutput(after_sale_get_for_buyer(buyer=request.user, case_id=case_id)).data)


class AfterSaleReturnShipmentApi(APIView):
    """``POST /after-sales/{id}/return-shipment``: the buyer sent the goods back (an approved
    return); the merchant then has 10 days to refund."""

    class InputSerializer(Serializer):
        carrier = serializers.CharField(max_length=40)
        tracking_no = serializers.CharField(max_length=64)

    @extend_schema(request=InputSerializer, responses=AfterSaleOutput)
    def post(self, request, case_id: int):
        after_sale_get_for_buyer(buyer=request.user, case_id=case_id)  # someone else's: 404 first
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        after_sale_post_return(case_id=case_id, buyer=request.user, **payload.validated_data)
        return Response(AfterSaleOutput(after_sale_get_for_buyer(buyer=request.user, case_id=case_id)).data)


class MerchantAfterSaleReturnReceivedApi(APIView):
    """``POST /merchant/after-sales/{id}/return-received``: the goods are back; the refund goes out."""

    permission_classes = MERCHANT_STAFF

    @extend_schema(request=None, responses=AfterSaleOutput)
    def post(self, request, case_id: int):
        merchant = request.merchant
        after_sale_return_received(case_id=case_id, merchant_id=merchant.pk, actor=request.user)
        return Response(
            AfterSaleOutput(after_sale_get_for_merchant(merchant_id=merchant.pk, case_id=case_id)).data
        )


class MerchantAfterSaleListApi(ListAPIView):
    permission_classes = MERCHANT_STAFF

    serializer_class = AfterSaleOutput

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=AfterSale.Status.choices, required=False)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        merchant = self.request.merchant
        return after_sale_list_for_merchant(
            merchant_id=merchant.pk, status=filters.validated_data.get("status")
        )


class MerchantDecisionInput(Serializer):
    reason = serializers.CharField(max_length=255, required=False, default="")


class _MerchantAfterSaleDecisionApi(APIView):
    """The merchant's decision on one of its cases; ``decide`` is the service that makes it."""

    permission_classes = MERCHANT_STAFF

    decide = None  # after_sale_approve or after_sale_reject, set by the subclass

    @extend_schema(request=MerchantDecisionInput, responses=AfterSaleOutput)
    def post(self, request, case_id: int):
        payload = MerchantDecisionInput(data=request.data)
        payload.is_valid(raise_exception=True)
        merchant = request.merchant
        self.decide(
            case_id=case_id,
            merchant_id=merchant.pk,
            actor=request.user,
            note=payload.validated_data["reason"],
        )
        return Response(
            AfterSaleOutput(after_sale_get_for_merchant(merchant_id=merchant.pk, case_id=case_id)).data
        )


class MerchantAfterSaleApproveApi(_MerchantAfterSaleDecisionApi):
    decide = staticmethod(after_sale_approve)


class MerchantAfterSaleRejectApi(_MerchantAfterSaleDecisionApi):
    decide = staticmethod(after_sale_reject)


class OrderPickupApi(APIView):
    """``GET /orders/{id}/pickup``: the buyer's pickup code and point (only the buyer sees the code)."""

    @extend_schema(responses=BuyerPickupOutput)
    def get(self, request, order_id: int):
        return Response(BuyerPickupOutput(pickup_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class LeaderOrderListApi(ListAPIView):
    """``GET /leaders/me/orders``: a certified leader's venue orders (nicknames, items, status,
    delivery, after-sales; no phones, addresses or pickup codes)."""

    serializer_class = LeaderOrderOutput
    queryset = Order.objects.none()  # for the schema; get_queryset gives the leader's

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
        delivery_type = serializers.ChoiceField(choices=DELIVERY_TYPES, required=False)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return order_list_for_leader(user=self.request.user, **filters.validated_data)


class LeaderOrderArrivedApi(APIView):
    """``POST /leaders/me/orders/{id}/arrived``: the parcel is at my pickup point; its buyer is told."""

    @extend_schema(request=None, responses=LeaderOrderOutput)
    def post(self, request, order_id: int):
        pickup_mark_arrived(leader=request.user, order_id=order_id)
        return Response(LeaderOrderOutput(order_get_after_leader_write(order_id=order_id)).data)


class LeaderPickupRedeemApi(APIView):
    """``POST /leaders/me/pickups``: redeem the code a buyer shows; the parcel is collected and
    the order's receipt confirmed. Any code not of a parcel at my point: 404; at most 5
    wrong codes an hour (429)."""

    class InputSerializer(Serializer):
        code = serializers.RegexField(r"^[0-9]{6}$")

    @extend_schema(request=InputSerializer, responses=LeaderOrderOutput)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = pickup_redeem(leader=request.user, code=payload.validated_data["code"])
        return Response(LeaderOrderOutput(order_get_after_leader_write(order_id=order.pk)).data)
