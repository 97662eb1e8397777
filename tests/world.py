"""A small, realistic world for the cross-app attack tests (fuzzing and security).

Two of everything, so every test can ask "and what does the *other* one see":
- ``owner`` owns ``store`` (a certified leader's sale venue) with members ``shopper`` and
  ``member``; ``other_owner`` owns ``other_store`` with ``other_shopper``.
- ``merchant_user`` is staff of ``merchant`` (an on-sale product ``product`` with SKU ``sku``,
  a draft product, a stock upload, a webhook); ``other_merchant_user`` of ``other_merchant``.
- ``shopper`` has a pending order of ``sku`` through ``store`` (unpaid, with its payment) and
  a paid one ``paid_order``; a notification each for the shopper and the merchant's staff.
- ``store``'s selection is ``product``; ``owner`` runs ``pickup_point``, where the shopper's
  shipped ``pickup_order`` is bound (its code only the shopper sees).

Everything is made through the real services (stores, memberships, leaders, orders, the
signed sandbox payment), so figures and ledger postings are the real ones. Members carry
phones and openids so a privacy scan has something to find.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import User
from accounts.services import token_issue
from accounts.tests.factories import UserFactory
from groupstore.models import Store
from groupstore.tests.factories import make_leader, make_store
from merchants.models import Merchant, MerchantStaff, StockUpload
from merchants.tests.factories import MerchantStaffFactory
from products.models import Product, Sku
from products.tests.factories import ProductFactory, SkuFactory
from shop.notifications.models import Notification, WebhookEndpoint

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


@dataclass
class World:
    owner: User
    store: Store
    share_token: str
    shopper: User
    member: User
    other_owner: User
    other_store: Store
    other_shopper: User
    merchant: Merchant
    merchant_user: MerchantStaff
    product: Product
    draft_product: Product
    sku: Sku
    other_merchant: Merchant
    other_merchant_user: MerchantStaff
    other_product: Product
    other_sku: Sku
    order: object
    paid_order: object
    stock_upload: StockUpload
    webhook: WebhookEndpoint
    shopper_notification: Notification
    merchant_notification: Notification
    case: object = None  # an open after-sales case of the shopper on ``case_order``
    case_order: object = None
    envelope: object = None  # a red envelope of ``store``, funded after the shopper joined
    coupon: object = None  # a usable coupon in the shopper's wallet
    statement: object = None  # a daily statement of ``merchant`` (one line), and one of the other
    other_statement: object = None
    pickup_point: object = None  # the owner's (a leader's) pickup point
    pickup_order: object = None  # the shopper's, shipped to the point, not arrived yet
    conversation: object = None  # the shopper's, about ``paid_order``, handed over to ``merchant``
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        """A real bearer token of the user of that attribute name (issued with the world)."""
        return self.tokens[name]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}


def _staff_with_catalog():
    staff = MerchantStaffFactory()
    product = ProductFactory(merchant=staff.merchant)
    sku = SkuFactory(product=product, price_fen=1_990, on_hand=50, commission_bps=1_000)
    return staff, product, sku


PEOPLE = (
    "owner",
    "shopper",
    "member",
    "other_owner",
    "other_shopper",
    "merchant_user",
    "other_merchant_user",
)


def _statement(*, merchant, order_id):
    """A statement row as the sweeper writes it (the profit-sharing postings it reads are
    not in this world): one sale of the day, opening 0."""
    from datetime import date

    from django.utils import timezone

    from rebates.models import MerchantStatement

    statement = MerchantStatement.objects.create(
        merchant=merchant, date=date(2026, 11, 2), sales_fen=1_990, closing_fen=1_990
    )
    statement.lines.create(order_id=order_id, kind="order_paid_shared", amount_fen=1_990, at=timezone.now())
    return statement


def _conversation(*, asker, order):
    """A conversation the assistant handed over to the order's merchant, with the buyer's ask."""
    from django.utils import timezone

    from assistant.models import Conversation, Message

    now = timezone.now()
    conversation = Conversation.objects.create(
        asker=asker,
        order=order,
        merchant_id=order.merchant_id,
        status=Conversation.Status.HANDED_OVER,
        handed_over_at=now,
        last_message_at=now,
    )
    Message.objects.create(conversation=conversation, sender=Message.Sender.BUYER, text="转人工")
    return conversation


def _coupon(*, user):
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import Coupon

    return Coupon.objects.create(
        user=user,
        title="平台优惠券",
        amount_fen=300,
        expires_at=timezone.now() + timedelta(days=7),
        source=Coupon.Source.CAMPAIGN,
        source_ref=f"world:{user.pk}",
    )


def world_build() -> World:
    """The world above, in the current transaction (about 40 rows, 170 queries)."""
    from groupstore.services import pickup_point_put, venue_selection_set
    from orders.services.after_sales import CaseItem, after_sale_open
    from orders.services.checkout import order_create
    from orders.services.lifecycle import order_ship
    from orders.tests.helpers import sandbox_pay
    from rebates.models import RedEnvelope
    from rebates.services.settlement import orders_settle
    from rebates.tests.helpers import (
        make_campaign,
        make_completed_orders,
        make_paid_order,
        make_pending_order,
    )

    owner = UserFactory(nickname="群主小王")
    make_leader(user=owner)
    store, share_token, (shopper, member) = make_store(owner=owner, name="宝妈团购群", members=2)
    other_store, _, (other_shopper,) = make_store(name="隔壁团", members=1)

    staff, product, sku = _staff_with_catalog()
    other_staff, other_product, other_sku = _staff_with_catalog()
    draft = ProductFactory(merchant=staff.merchant, status=Product.Status.DRAFT, title="新品 草稿")
    SkuFactory(product=draft, price_fen=990)
    venue_selection_set(
        store_id=store.pk, user=owner, product_ids=[product.pk]
    )  # a venue sells its selection
    pickup_point, _ = pickup_point_put(
        leader=owner,
        name="宝妈团自提点",
        region="上海市 浦东新区",
        address="世纪公园 2 号门便利店",
        opening_hours="9:00-21:00",
        contact_name="王团长",
        contact_phone="13911112222",
    )

    order = make_pending_order(buyer=shopper, store=store, sku=sku)
    paid_order = make_paid_order(buyer=shopper, store=store, sku=sku)
    case_order = make_paid_order(buyer=shopper, store=store, sku=sku)
    case = after_sale_open(
        order_id=case_order.pk,
        buyer=shopper,
        kind="refund",
        items=[CaseItem(order_item_id=case_order.items.get().pk, qty=1)],
        amount_fen=500,
        reason="少发了一件",
    )
    make_campaign(budget_fen=1_000, envelope_fen=500, shares=3, stores=[store])
    (settled,) = make_completed_orders(buyers=[member], store=store, sku=sku, merchant_user=staff.user)
    orders_settle(order_ids=[settled.pk])
    envelope = RedEnvelope.objects.get(order=settled)
    coupon = _coupon(user=shopper)
    pickup_order = order_create(
        buyer=shopper,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": 1}],
        address={},
        gateway="sandbox",
        pickup_point=pickup_point,
    ).orders[0]
    sandbox_pay(pickup_order.payment)
    order_ship(
        order_id=pickup_order.pk,
        merchant_id=staff.merchant.pk,
        carrier="SF",
        tracking_no="SF0042",
        actor=None,
    )
    upload = StockUpload.objects.create(
        merchant=staff.merchant, actor=staff.user, filename="stock.csv", status=StockUpload.Status.APPLIED
    )
    webhook = WebhookEndpoint.objects.create(
        owner=staff.user, url="https://hooks.example.com/shop", secret="whsec_test"
    )
    statement = _statement(merchant=staff.merchant, order_id=paid_order.pk)
    other_statement = _statement(merchant=other_staff.merchant, order_id=None)
    world = World(
        owner=owner,
        store=store,
        share_token=share_token,
        shopper=shopper,
        member=member,
        other_owner=other_store.owner,
        other_store=other_store,
        other_shopper=other_shopper,
        merchant=staff.merchant,
        merchant_user=staff,
        product=product,
        draft_product=draft,
        sku=sku,
        other_merchant=other_staff.merchant,
        other_merchant_user=other_staff,
        other_product=other_product,
        other_sku=other_sku,
        order=order,
        paid_order=paid_order,
        stock_upload=upload,
        webhook=webhook,
        shopper_notification=Notification.objects.create(recipient=shopper, kind="test", title="您的订单"),
        merchant_notification=Notification.objects.create(recipient=staff.user, kind="test", title="新订单"),
        case=case,
        case_order=case_order,
        envelope=envelope,
        coupon=coupon,
        statement=statement,
        other_statement=other_statement,
        pickup_point=pickup_point,
        pickup_order=pickup_order,
        conversation=_conversation(asker=shopper, order=paid_order),
    )
    for name in PEOPLE:
        who = getattr(world, name)
        world.tokens[name] = token_issue(user=who.user if isinstance(who, MerchantStaff) else who)
    return world


@contextmanager
def world_for_module(django_db_blocker):
    """Build the world once for a test module, in a transaction rolled back after it.

    Each test's own transaction (pytest-django's ``db``) nests inside as a savepoint and
    rolls back to the world as built, so a module of 100 tests pays for one world (about
    0.3 s) instead of 100. The ``World`` instances are shared: tests treat them as
    read-only handles and re-read rows from the database.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic._from_testcase = True  # as Django's TestCase does: durable blocks inside tests still work
        atomic.__enter__()
        try:
            world = world_build()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
