"""Every object-level endpoint, who must be refused, and what must not change (data, not code).

A ``Probe`` names one call on one seeded object of ``tests.world``: its method, its path
(``str.format`` over the world as ``w``), a body, the rightful caller (who gets through:
that proves the probe reaches a real object), the intruders with the status each must get,
and the rows that must be unchanged after any refused call.

To cover a new endpoint, add a probe here; the tests in ``test_object_access.py`` run it
for every intruder and for no token at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F, QuerySet

from assistant.models import Message
from groupstore.models import Membership, ShareLink, Store, VenueSelection
from merchants.models import MerchantStaff, StockUpload
from orders.models import AfterSale, Order, Pickup
from products.models import Product, Sku
from rebates.models import RedEnvelope, RedEnvelopeClaim
from shop.notifications.models import Notification, WebhookEndpoint
from shop.payments.models import Payment

Watch = Callable[[object], QuerySet]

# Who is who (tests.world): a stranger to the store, a member who is not its owner,
# the other merchant's staff, a shopper who is no merchant's staff.
STRANGER = {"other_shopper": 404}
NOT_OWNER = {"other_shopper": 404, "member": 403}
NOT_OUR_MERCHANT = {"other_merchant_user": 404, "shopper": 403}


@dataclass(frozen=True)
class Probe:
    id: str
    method: str
    path: str
    rightful: str
    intruders: dict[str, int]
    body: dict | None = None
    watch: tuple[Watch, ...] = field(default=())
    rightful_status: int = 200

    def url(self, world) -> str:
        return self.path.format(w=world)


def _conversation_messages(w):
    return Message.objects.filter(conversation_id=w.conversation.pk)


def _store(w):
    return Store.objects.filter(pk=w.store.pk)


def _order(w):
    return Order.objects.filter(pk=w.order.pk)


def _paid_order(w):
    return Order.objects.filter(pk=w.paid_order.pk)


def _case(w):
    return AfterSale.objects.filter(pk=w.case.pk)


def _envelope(w):
    return RedEnvelope.objects.filter(pk=w.envelope.pk)


ONLY_THE_BUYER = {"other_shopper": 404, "owner": 404, "merchant_user": 404}
CASE_BODY = {"type": "refund", "items": [{"order_item_id": 1, "qty": 1}], "amount_fen": 100, "reason": "x"}


def _sku(w):
    return Sku.objects.filter(pk=w.sku.pk)


PROBES: list[Probe] = [
    # --- group stores -----------------------------------------------------------------
    Probe(
        "assistant-conversation-read",
        "get",
        "/api/v1/assistant/conversations/{w.conversation.pk}",
        "shopper",
        {"other_shopper": 404, "merchant_user": 404},
    ),
    Probe(
        "merchant-conversation-answer",
        "post",
        "/api/v1/merchant/conversations/{w.conversation.pk}/messages",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"text": "您好，已为您催促发货。"},
        watch=(_conversation_messages,),
        rightful_status=201,
    ),
    Probe("store-detail", "get", "/api/v1/stores/{w.store.pk}", "shopper", STRANGER),
    Probe(
        "store-share-link",
        "post",
        "/api/v1/stores/{w.store.pk}/share-links",
        "shopper",
        STRANGER,
        body={},
        watch=(lambda w: ShareLink.objects.all(),),
        rightful_status=201,
    ),
    Probe(
        "store-share-poster",
        "get",
        "/api/v1/stores/{w.store.pk}/share-links/{w.share_token}/poster",
        "shopper",
        STRANGER,
        watch=(lambda w: ShareLink.objects.all(),),
    ),
    Probe("store-dashboard", "get", "/api/v1/stores/{w.store.pk}/dashboard", "owner", NOT_OWNER),
    Probe("store-members", "get", "/api/v1/stores/{w.store.pk}/members", "owner", NOT_OWNER),
    Probe("store-selection-read", "get", "/api/v1/stores/{w.store.pk}/selection", "shopper", STRANGER),
    Probe(
        "store-selection-write",
        "put",
        "/api/v1/stores/{w.store.pk}/selection",
        "owner",
        NOT_OWNER,
        body={"product_ids": []},
        watch=(_store, lambda w: VenueSelection.objects.all()),
    ),
    # --- merchant console -------------------------------------------------------------
    Probe(
        "merchant-product-read",
        "get",
        "/api/v1/merchant/products/{w.product.pk}",
        "merchant_user",
        NOT_OUR_MERCHANT,
    ),
    Probe(
        "merchant-product-write",
        "patch",
        "/api/v1/merchant/products/{w.product.pk}",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"title": "被人改了", "status": "off_sale"},
        watch=(lambda w: Product.objects.filter(pk=w.product.pk),),
    ),
    Probe(
        "merchant-sku-create",
        "post",
        "/api/v1/merchant/products/{w.product.pk}/skus",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"code": "HACK-1", "price_fen": 1, "commission_bps": 100, "stock": 5},
        watch=(lambda w: Sku.objects.all(),),
        rightful_status=201,
    ),
    Probe("merchant-sku-read", "get", "/api/v1/merchant/skus/{w.sku.pk}", "merchant_user", NOT_OUR_MERCHANT),
    Probe(
        "merchant-sku-write",
        "patch",
        "/api/v1/merchant/skus/{w.sku.pk}",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"price_fen": 1, "stock": 0},
        watch=(_sku,),
    ),
    Probe(
        "merchant-upload-read",
        "get",
        "/api/v1/merchant/stock-uploads/{w.stock_upload.pk}",
        "merchant_user",
        NOT_OUR_MERCHANT,
    ),
    Probe(
        "merchant-staff-remove",
        "delete",
        "/api/v1/merchant/staff/{w.merchant_user.pk}",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"confirm": "remove"},
        watch=(lambda w: MerchantStaff.objects.all(),),
        rightful_status=403,  # the owner cannot remove themself: reached, and refused by the rule
    ),
    Probe(
        "merchant-order-ship",
        "post",
        "/api/v1/merchant/orders/{w.paid_order.pk}/ship",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"carrier": "SF", "tracking_no": "SF000111222"},
        watch=(_paid_order,),
    ),
    Probe(
        "merchant-order-invoice",
        "post",
        "/api/v1/merchant/orders/{w.paid_order.pk}/invoice",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"invoice_no": "INV-0001"},
        watch=(_paid_order,),
    ),
    # --- notifications and webhooks ---------------------------------------------------
    Probe(
        "notification-read",
        "post",
        "/api/v1/notifications/{w.shopper_notification.pk}/read",
        "shopper",
        {"other_shopper": 404, "merchant_user": 404},
        watch=(lambda w: Notification.objects.filter(pk=w.shopper_notification.pk),),
    ),
    Probe(
        "webhook-delete",
        "delete",
        "/api/v1/webhooks/{w.webhook.pk}",
        "merchant_user",
        {"other_merchant_user": 404, "shopper": 404},
        body={"confirm": "delete"},
        watch=(lambda w: WebhookEndpoint.objects.filter(pk=w.webhook.pk),),
        rightful_status=204,
    ),
    # --- orders and payments ----------------------------------------------------------
    Probe(
        "order-read",
        "get",
        "/api/v1/orders/{w.order.pk}",
        "shopper",
        {"other_shopper": 404, "owner": 404, "merchant_user": 404},
    ),
    Probe(
        "order-cancel",
        "post",
        "/api/v1/orders/{w.order.pk}/cancel",
        "shopper",
        {"other_shopper": 404, "owner": 404, "merchant_user": 404},
        body={},
        watch=(_order, _sku),
    ),
    Probe(
        "order-confirm-receipt",
        "post",
        "/api/v1/orders/{w.paid_order.pk}/confirm-receipt",
        "shopper",
        {"other_shopper": 404, "owner": 404, "merchant_user": 404},
        body={},
        watch=(_paid_order,),
        rightful_status=409,  # paid, not shipped: reached, and refused by the state machine
    ),
    Probe(
        "sandbox-pay",
        "post",
        "/api/v1/sandbox/payments/{w.order.payment_id}/pay",
        "shopper",
        {"other_shopper": 404, "owner": 404},
        watch=(_order, lambda w: Payment.objects.filter(pk=w.order.payment_id)),
    ),
]

PROBES += [
    # --- after-sales --------------------------------------------------------------------
    Probe(
        "after-sale-open",
        "post",
        "/api/v1/orders/{w.case_order.pk}/after-sales",
        "shopper",
        ONLY_THE_BUYER,
        body=CASE_BODY,
        watch=(lambda w: AfterSale.objects.all(),),
        rightful_status=409,  # a case is already open on it: reached, and refused by the rule
    ),
    Probe("after-sale-read", "get", "/api/v1/after-sales/{w.case.pk}", "shopper", ONLY_THE_BUYER),
    Probe(
        "after-sale-escalate",
        "post",
        "/api/v1/after-sales/{w.case.pk}/escalate",
        "shopper",
        ONLY_THE_BUYER,
        body={},
        watch=(_case,),
        rightful_status=409,  # not rejected yet: nothing to dispute
    ),
    Probe(
        "after-sale-withdraw",
        "post",
        "/api/v1/after-sales/{w.case.pk}/withdraw",
        "shopper",
        ONLY_THE_BUYER,
        body={"confirm": "withdraw"},
        watch=(_case,),
    ),
    Probe(
        "merchant-after-sale-approve",
        "post",
        "/api/v1/merchant/after-sales/{w.case.pk}/approve",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={},
        watch=(_case, lambda w: Order.objects.filter(pk=w.case_order.pk)),
    ),
    Probe(
        "merchant-after-sale-reject",
        "post",
        "/api/v1/merchant/after-sales/{w.case.pk}/reject",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={"reason": "不同意"},
        watch=(_case,),
    ),
    Probe(
        "after-sale-return-shipment",
        "post",
        "/api/v1/after-sales/{w.case.pk}/return-shipment",
        "shopper",
        ONLY_THE_BUYER,
        body={"carrier": "SF", "tracking_no": "SF000001"},
        watch=(_case,),
        rightful_status=409,  # no return was approved: nothing to send back
    ),
    Probe(
        "merchant-after-sale-return-received",
        "post",
        "/api/v1/merchant/after-sales/{w.case.pk}/return-received",
        "merchant_user",
        NOT_OUR_MERCHANT,
        body={},
        watch=(_case, lambda w: Order.objects.filter(pk=w.case_order.pk)),
        rightful_status=409,  # no return was sent back yet
    ),
    # --- red envelopes ------------------------------------------------------------------
    Probe("store-red-envelopes", "get", "/api/v1/stores/{w.store.pk}/red-envelopes", "shopper", STRANGER),
    Probe("store-flash-offers", "get", "/api/v1/stores/{w.store.pk}/flash-offers", "shopper", STRANGER),
    Probe(
        "red-envelope-claim",
        "post",
        "/api/v1/red-envelopes/{w.envelope.pk}/claim",
        "shopper",
        STRANGER,
        body={},
        watch=(_envelope, lambda w: RedEnvelopeClaim.objects.all()),
    ),
]

PROBES += [
    # --- merchant statements --------------------------------------------------------------
    Probe(
        "merchant-statement-lines",
        "get",
        "/api/v1/merchant/statements/{w.statement.pk}/lines",
        "merchant_user",
        NOT_OUR_MERCHANT,
    ),
    Probe(
        "merchant-statement-export",
        "get",
        "/api/v1/merchant/statements/{w.statement.pk}/export",
        "merchant_user",
        NOT_OUR_MERCHANT,
    ),
]

PROBES += [
    # --- pickup delivery ------------------------------------------------------------------
    # The code is the buyer's alone: not the leader running the point, not the merchant.
    Probe("order-pickup-read", "get", "/api/v1/orders/{w.pickup_order.pk}/pickup", "shopper", ONLY_THE_BUYER),
    Probe(
        "leader-order-arrived",
        "post",
        "/api/v1/leaders/me/orders/{w.pickup_order.pk}/arrived",
        "owner",
        # the buyer, another store's owner, the merchant: none runs this point
        {"shopper": 404, "other_owner": 404, "merchant_user": 404},
        body={},
        watch=(
            lambda w: Pickup.objects.filter(order_id=w.pickup_order.pk).annotate(id=F("order_id")),
            lambda w: Order.objects.filter(pk=w.pickup_order.pk),
        ),
    ),
]

# Lists that must show a caller only their own (list path, caller, world objects never in it).
LIST_PROBES: list[tuple[str, str, str, Callable]] = [
    ("stores", "/api/v1/stores", "other_shopper", lambda w: {w.store.pk}),
    ("orders", "/api/v1/orders", "other_shopper", lambda w: {w.order.pk, w.paid_order.pk}),
    ("merchant-orders", "/api/v1/merchant/orders", "other_merchant_user", lambda w: {w.paid_order.pk}),
    ("merchant-products", "/api/v1/merchant/products", "other_merchant_user", lambda w: {w.product.pk}),
    ("stock-uploads", "/api/v1/merchant/stock-uploads", "other_merchant_user", lambda w: {w.stock_upload.pk}),
    ("notifications", "/api/v1/notifications", "other_shopper", lambda w: {w.shopper_notification.pk}),
    ("webhooks", "/api/v1/webhooks", "other_merchant_user", lambda w: {w.webhook.pk}),
    ("merchant-statements", "/api/v1/merchant/statements", "other_merchant_user", lambda w: {w.statement.pk}),
    ("coupons", "/api/v1/coupons", "other_shopper", lambda w: {w.coupon.pk}),
]


def snapshot(probe: Probe, world) -> list[list[dict]]:
    return [sorted(watch(world).values(), key=lambda row: row["id"]) for watch in probe.watch] + [
        sorted(Membership.objects.values(), key=lambda row: row["id"]),
        list(StockUpload.objects.order_by("pk").values_list("pk", flat=True)),
    ]
