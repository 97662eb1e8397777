from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import AfterSale, AfterSaleItem, Order, OrderItem, Team
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


class DeliveryOutput(FieldsBuiltOnceMixin, Serializer):
    """How the order was shipped: empty strings and null until it is."""

    carrier = serializers.CharField()
    tracking_no = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)


class AddressSerializer(FieldsBuiltOnceMixin, Serializer):
    name = serializers.CharField(max_length=40)
    phone = serializers.RegexField(r"^\+?[0-9][0-9 -]{5,19}$", max_length=20)
    region = serializers.CharField(max_length=100)
    detail = serializers.CharField(max_length=200)


class OrderOutput(FieldsBuiltOnceMixin, ModelSerializer):
    """An order as its buyer sees it (with the buyer's own address)."""

    store_id = serializers.IntegerField()
    merchant_id = serializers.IntegerField()
    payment_id = serializers.IntegerField()
    payment_status = serializers.CharField(source="payment.status")
    items = OrderItemOutput(many=True)
    delivery = DeliveryOutput(source="*")  # the order's own columns, nested
    address = AddressSerializer()
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


class MerchantOrderOutput(OrderOutput):
    """An order as its merchant sees it: with the delivery address it must ship to."""

    buyer_nickname = serializers.CharField(source="buyer.nickname")

    class Meta(OrderOutput.Meta):
        fields = (*OrderOutput.Meta.fields, "buyer_nickname")
