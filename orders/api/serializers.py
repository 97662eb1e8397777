from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import AfterSale, AfterSaleItem, Order, OrderItem, Team
from orders.selectors import merchant_sees_address
from shop.api.serializers import FieldsBuiltOnceMixin, ModelSerializer, Serializer


class AfterSaleItemOutput(FieldsBuiltOnceMixin, ModelSerializer):
    order_item_id = serializers.IntegerField()

    class Meta:
        model = AfterSaleItem
        fields = ("order_item_id", "qty", "amount_fen")


class AfterSaleOutput(FieldsBuiltOnceMixin, ModelSerializer):
    order_id = serializers.IntegerField()
    type = serializers.CharField(source="kind")
    items = AfterSaleItemOutput(many=True)

    class Meta:
        model = AfterSale
        fields = (
            "id",
            "order_id",
            "type",
            "status",
            "amount_fen",
            "refunded_fen",
            "reason",
            "merchant_note",
            "ops_note",
            "items",
            "created_at",
            "decided_at",
            "respond_by",
            "return_address",
            "return_by",
            "return_carrier",
            "return_tracking_no",
            "return_shipped_at",
            "refund_by",
            "escalate_by",
        )


class OrderItemOutput(FieldsBuiltOnceMixin, ModelSerializer):
    sku_id = serializers.IntegerField()
    discount_fen = serializers.IntegerField()

    class Meta:
        model = OrderItem
        fields = (
            "id",
            "sku_id",
            "product_title",
            "spec",
            "qty",
            "price_kind",
            "list_price_fen",
            "unit_price_fen",
            "discount_fen",
            "sale_fen",
            "coupon_fen",
            "paid_fen",
            "refunded_fen",
        )


class OrderTeamOutput(FieldsBuiltOnceMixin, Serializer):
    id = serializers.IntegerField()
    size = serializers.IntegerField()
    status = serializers.CharField()


class TeamOutput(ModelSerializer):
    """``GET /teams/{id}``: public figures only; members by nickname."""

    sku_id = serializers.IntegerField()
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = (
            "id",
            "sku_id",
            "size",
            "members_count",
            "status",
            "expires_at",
            "new_customers_only",
            "members",
        )

    def get_members(self, team) -> list[dict]:
        return [{"nickname": m.buyer.nickname, "is_leader": m.is_leader} for m in team.live_members]


class PickupPointOutput(Serializer):
    """A pickup point as its buyers see it: where and when, never the leader's contact."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    region = serializers.CharField()
    address = serializers.CharField()
    opening_hours = serializers.CharField()


class PickupPointForCarrierOutput(PickupPointOutput):
    """A pickup point as the merchant who ships to it sees it: with the leader's contact."""

    contact_name = serializers.CharField()
    contact_phone = serializers.CharField()


DELIVERY_TYPES = ("address", "pickup")


class DeliveryOutput(FieldsBuiltOnceMixin, Serializer):
    """How the order was shipped: empty strings and null until it is. ``type`` is
    ``address`` (to the buyer's address) or ``pickup`` (to ``pickup_point``, a leader's)."""

    type = serializers.SerializerMethodField()
    pickup_point = serializers.SerializerMethodField()
    carrier = serializers.CharField()
    tracking_no = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)

    point_output = PickupPointOutput

    @extend_schema_field(serializers.ChoiceField(choices=DELIVERY_TYPES))
    def get_type(self, order) -> str:
        return "pickup" if order.pickup_point_id is not None else "address"

    @extend_schema_field(PickupPointOutput(allow_null=True))
    def get_pickup_point(self, order) -> dict | None:
        if order.pickup_point_id is None:
            return None
        return self.point_output(order.pickup_point).data


class MerchantDeliveryOutput(DeliveryOutput):
    point_output = PickupPointForCarrierOutput

    @extend_schema_field(PickupPointForCarrierOutput(allow_null=True))
    def get_pickup_point(self, order) -> dict | None:
        return super().get_pickup_point(order)


class AddressSerializer(FieldsBuiltOnceMixin, Serializer):
    name = serializers.CharField(max_length=40)
    phone = serializers.RegexField(r"^\+?[0-9][0-9 -]{5,19}$", max_length=20)
    region = serializers.CharField(max_length=100)
    detail = serializers.CharField(max_length=200)


class OrderAddressOutput(AddressSerializer):
    """The order's address; null for an order bound for a pickup point (it has none)."""

    def get_attribute(self, instance):
        return super().get_attribute(instance) or None


class OrderOutput(FieldsBuiltOnceMixin, ModelSerializer):
    """An order as its buyer sees it (with the buyer's own address)."""

    store_id = serializers.IntegerField()
    merchant_id = serializers.IntegerField()
    payment_id = serializers.IntegerField()
    payment_status = serializers.CharField(source="payment.status")
    items = OrderItemOutput(many=True)
    delivery = DeliveryOutput(source="*")  # the order's own columns, nested
    address = OrderAddressOutput(allow_null=True)
    after_sales = AfterSaleOutput(many=True)
    team = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = (
            "id",
            "status",
            "store_id",
            "merchant_id",
            "payment_id",
            "payment_status",
            "list_fen",
            "sale_fen",
            "coupon_fen",
            "paid_fen",
            "refunded_fen",
            "items",
            "delivery",
            "address",
            "after_sales",
            "team",
            "invoice_no",
            "pay_deadline_at",
            "paid_at",
            "received_at",
            "after_sales_closes_at",
            "completed_at",
            "created_at",
        )

    @extend_schema_field(OrderTeamOutput(allow_null=True))
    def get_team(self, order) -> dict | None:
        seat = getattr(order, "team_member", None)
        return OrderTeamOutput(seat.team).data if seat is not None else None


_WHEN = serializers.DateTimeField()


def _at(value) -> str | None:
    return None if value is None else _WHEN.to_representation(value)


def order_placed_output(read) -> dict:
    """``OrderOutput(read).data`` of an order just placed (``checkout.OrderRead``: no
    after-sales, not shipped), built directly: DRF's per-field machinery was a tenth of a
    checkout's time. ``orders/tests/test_checkout_fast_paths.py`` checks it equals
    ``OrderOutput`` for each kind of order checkout makes (plain, team, coupon, pickup)."""
    order = read.order
    seat = read.team_member
    address = order.address or None
    return {
        "id": order.pk,
        "status": order.status,
        "store_id": order.store_id,
        "merchant_id": order.merchant_id,
        "payment_id": order.payment_id,
        "payment_status": order.payment.status,
        "list_fen": order.list_fen,
        "sale_fen": order.sale_fen,
        "coupon_fen": order.coupon_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "items": [
            {
                "id": item.pk,
                "sku_id": item.sku_id,
                "product_title": item.product_title,
                "spec": item.spec,
                "qty": item.qty,
                "price_kind": item.price_kind,
                "list_price_fen": item.list_price_fen,
                "unit_price_fen": item.unit_price_fen,
                "discount_fen": item.discount_fen,
                "sale_fen": item.sale_fen,
                "coupon_fen": item.coupon_fen,
                "paid_fen": item.paid_fen,
                "refunded_fen": item.refunded_fen,
            }
            for item in read.items
        ],
        "delivery": {
            "type": "pickup" if order.pickup_point_id is not None else "address",
            "pickup_point": (
                PickupPointOutput(order.pickup_point).data if order.pickup_point_id is not None else None
            ),
            "carrier": order.carrier,
            "tracking_no": order.tracking_no,
            "shipped_at": _at(order.shipped_at),
        },
        "address": None
        if address is None
        else {key: str(address[key]) for key in ("name", "phone", "region", "detail")},
        "after_sales": [],
        "team": OrderTeamOutput(seat.team).data if seat is not None else None,
        "invoice_no": order.invoice_no,
        "pay_deadline_at": _at(order.pay_deadline_at),
        "paid_at": _at(order.paid_at),
        "received_at": _at(order.received_at),
        "after_sales_closes_at": _at(order.after_sales_closes_at),
        "completed_at": _at(order.completed_at),
        "created_at": _at(order.created_at),
    }


class MerchantOrderAddressOutput(OrderAddressOutput):
    """The address while the merchant needs it (``merchant_sees_address``), else null."""

    def get_attribute(self, instance):
        return super().get_attribute(instance) if merchant_sees_address(instance) else None


class MerchantOrderOutput(OrderOutput):
    """An order as its merchant sees it: with the delivery address it must ship to, from
    payment to receipt (``merchant_sees_address``)."""

    address = MerchantOrderAddressOutput(allow_null=True)
    buyer_nickname = serializers.CharField(source="buyer.nickname")
    delivery = MerchantDeliveryOutput(source="*")

    class Meta(OrderOutput.Meta):
        fields = (*OrderOutput.Meta.fields, "buyer_nickname")


class LeaderOrderItemOutput(Serializer):
    product_title = serializers.CharField()
    spec = serializers.JSONField()
    qty = serializers.IntegerField()
    paid_fen = serializers.IntegerField()


class LeaderAfterSaleOutput(Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(source="kind")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class LeaderPickupOutput(Serializer):
    """Where the parcel is; never its code (the buyer shows it)."""

    status = serializers.CharField()
    arrived_at = serializers.DateTimeField(allow_null=True)
    collected_at = serializers.DateTimeField(allow_null=True)


class LeaderOrderOutput(Serializer):
    """An order of the leader's venue as the leader sees it: the buyer's nickname, what was
    bought and where it stands — never the buyer's phone, address or pickup code."""

    id = serializers.IntegerField()
    store_id = serializers.IntegerField()
    buyer_nickname = serializers.CharField(source="buyer.nickname")
    items = LeaderOrderItemOutput(many=True)
    status = serializers.CharField()
    paid_fen = serializers.IntegerField()
    delivery_type = serializers.SerializerMethodField()
    pickup = serializers.SerializerMethodField()
    after_sales = LeaderAfterSaleOutput(many=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=DELIVERY_TYPES))
    def get_delivery_type(self, order) -> str:
        return "pickup" if order.pickup_point_id is not None else "address"

    @extend_schema_field(LeaderPickupOutput(allow_null=True))
    def get_pickup(self, order) -> dict | None:
        pickup = getattr(order, "pickup", None) if order.pickup_point_id is not None else None
        return LeaderPickupOutput(pickup).data if pickup is not None else None


class BuyerPickupOutput(Serializer):
    """``GET /orders/{id}/pickup``: the buyer's own code and where to collect the parcel."""

    pickup_point = PickupPointOutput(source="point")
    code = serializers.CharField()
    status = serializers.CharField()
    arrived_at = serializers.DateTimeField(allow_null=True)
    collected_at = serializers.DateTimeField(allow_null=True)
