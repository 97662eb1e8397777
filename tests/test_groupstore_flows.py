"""Group-store rules across apps, through the real order services and the API:
attribution and membership, self-dealing, freezing, the share reward on a real
completion, venue order notices (and their webhooks), refunds and the flash unlock."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import Membership, ShareReward, StoreStats
from groupstore.services import store_freeze, store_join, store_stats_record_refund, venue_selection_set
from groupstore.tests.factories import make_leader, make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Coupon, FlashOffer
from orders.services.checkout import checkout_quote
from products.tests.factories import SkuFactory
from rebates.tests.helpers import ADDRESS, make_completed_orders, make_paid_order, sandbox_pay
from shop.notifications import webhooks
from shop.notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku():
    staff = MerchantStaffFactory()
    return SkuFactory(
        product__merchant=staff.merchant,
        price_fen=1_990,
        commission_bps=1_000,
        on_hand=100,
    )


def order_body(store, sku, qty=1):
    return {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": qty}], "address": ADDRESS}


def test_a_non_member_ordering_through_a_store_is_refused_and_nothing_is_reserved(make_client, sku):
    store, _, _ = make_store()

    response = make_client(UserFactory()).post("/api/v1/orders", order_body(store, sku), format="json")

    assert_error(response, 403, "not_store_member")
    sku.refresh_from_db()
    assert sku.reserved == 0


def test_no_order_through_a_frozen_store(make_client, sku):
    store, _, (member,) = make_store(members=1)
    store_freeze(store_id=store.pk, reason="spam")

    response = make_client(member).post("/api/v1/orders", order_body(store, sku), format="json")

    assert_error(response, 410, "store_frozen")


def test_the_owner_buying_in_their_own_store_earns_no_owner_commission_and_no_share_reward(make_client, sku):
    # given an owner and the first member who joined through the link
    store, token, _ = make_store()

    # when the owner buys 1 × ¥19.90 in their own store and the order completes
    (order,) = make_completed_orders(buyers=[store.owner], store=store, sku=sku)

    # then only the buyer's rebate accrued to them (59 of the 199 commission), no owner share,
    # the store's commission figures are untouched, and no reward was granted
    assert order.is_self_purchase is True
    assert make_client(store.owner).get("/api/v1/wallet").json()["pending_fen"] == 59
    stats = StoreStats.objects.get(store=store)
    assert (stats.commission_pending_fen, stats.gmv_fen, stats.orders_count) == (0, 1_990, 1)
    assert ShareReward.objects.exists() is False


def test_a_members_order_pays_the_owner_one_level_only(make_client, sku):
    # given a member of a store who also owns a store of their own (one level only)
    store, _, (member,) = make_store(members=1)
    make_store(owner=member)

    make_paid_order(buyer=member, store=store, sku=sku)

    # then the store's owner is owed 119 and nobody above them anything
    assert make_client(store.owner).get("/api/v1/wallet").json()["pending_fen"] == 119
    assert make_client(member).get("/api/v1/wallet").json()["pending_fen"] == 59
    assert StoreStats.objects.get(store=store).commission_pending_fen == 119


def test_the_first_link_members_completed_first_order_earns_the_owner_the_share_reward(sku):
    # given a store and two members who joined through its link, in this order
    store, token, _ = make_store()
    first, second = UserFactory(), UserFactory()
    store_join(user=first, share_token=token)
    store_join(user=second, share_token=token)

    # when the second's order completes, then the first's
    make_completed_orders(buyers=[second], store=store, sku=sku)
    none_yet = ShareReward.objects.exists()
    (order,) = make_completed_orders(buyers=[first], store=store, sku=sku)

    # then the reward followed the first member's purchase, once, and the owner was told
    assert none_yet is False
    reward = ShareReward.objects.get()
    assert (reward.store_id, reward.owner_id, reward.member_id, reward.order_id) == (
        store.pk,
        store.owner_id,
        first.pk,
        order.pk,
    )
    # (orders issues the owner's coupon in the same transaction: the reward is "issued")
    assert (reward.amount_fen, reward.order_paid_fen, reward.status) == (500, 1_990, "issued")
    coupon = Coupon.objects.get(source_ref=f"share_reward:{reward.pk}")
    assert (coupon.user_id, coupon.amount_fen, coupon.status) == (store.owner_id, 500, "usable")
    notice = Notification.objects.get(recipient=store.owner, kind="share_reward_granted")
    assert notice.data["coupon_id"] == coupon.pk  # the owner finds it in GET /coupons


def test_a_bare_sign_up_earns_nothing(sku):
    store, token, _ = make_store()
    for _ in range(5):
        store_join(user=UserFactory(), share_token=token)

    assert ShareReward.objects.exists() is False
    assert Notification.objects.filter(kind="share_reward_granted").exists() is False


def test_the_leader_is_told_of_each_paid_venue_order_never_the_buyers_phone_or_address(sku):
    # given a certified leader's venue with a webhook, and a member with a phone on file
    leader = make_leader()
    store, _, (member,) = make_store(owner=leader.user, members=1)
    venue_selection_set(store_id=store.pk, user=leader.user, product_ids=[sku.product_id])
    WebhookEndpoint.objects.create(owner=leader.user, url="https://leader.example.com/hook", secret="whsec_x")
    sent = []

    def post(*, target, body, headers, timeout):
        sent.append(body)
        return 200

    fake_dns = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    with (
        mock.patch.object(webhooks, "webhook_post_pinned", side_effect=post),
        mock.patch.object(socket, "getaddrinfo", return_value=fake_dns),
    ):
        # when the member's order of 2 is paid (the callback applied twice, as WeChat retries)
        order = make_paid_order(buyer=member, store=store, sku=sku, qty=2)
        sandbox_pay(order.payment)

    # then one notice and one webhook, with the order and nickname but no phone or address
    notice = Notification.objects.get(recipient=leader.user, kind="venue_order_paid")
    assert notice.data["order_id"] == order.pk
    assert notice.data["paid_fen"] == 3_980
    assert notice.data["buyer_nickname"] == member.nickname
    assert WebhookDelivery.objects.filter(notification=notice).count() == 1
    for text in (json.dumps(notice.data, ensure_ascii=False), notice.body, *[b.decode() for b in sent]):
        assert member.phone not in text
        assert ADDRESS["phone"] not in text
        assert ADDRESS["detail"] not in text
        assert ADDRESS["name"] not in text


def test_a_refund_that_takes_net_spend_below_the_threshold_loses_the_flash_price(sku, settings):
    # given a store whose members paid ¥100.00 net (threshold ¥100), so flash prices apply
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 10_000}
    store, _, (member,) = make_store(members=1)
    big = SkuFactory(product__merchant=sku.merchant, price_fen=10_000, on_hand=5)
    make_paid_order(buyer=member, store=store, sku=big)
    now = timezone.now()
    FlashOffer.objects.create(
        sku=sku,
        status=FlashOffer.Status.APPROVED,
        flash_price_fen=1_500,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        quantity=10,
        per_user_limit=2,
    )
    unlocked = checkout_quote(buyer=member, store_id=store.pk, items=[{"sku_id": sku.pk, "qty": 1}])

    # when orders records a refund of ¥0.01 of it
    store_stats_record_refund(store_id=store.pk, buyer_id=member.pk, refunded_fen=1)
    locked = checkout_quote(buyer=member, store_id=store.pk, items=[{"sku_id": sku.pk, "qty": 1}])

    # then the next quote is at the list price again
    assert (unlocked.lines[0].price_kind, unlocked.lines[0].unit_price_fen) == ("flash", 1_500)
    assert (locked.lines[0].price_kind, locked.lines[0].unit_price_fen) == ("normal", 1_990)
    assert Membership.objects.get(store=store, user=member).paid_fen == 9_999
