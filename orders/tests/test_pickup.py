"""Leaders' venues and pickup points over HTTP (docs/design.md "Pickup delivery"): a venue
sells only its selection; members check out to the leader's point; the leader marks the
parcel arrived and redeems the buyer's code, which confirms receipt; a parcel nobody
collects is received 7 days after it arrived."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import PickupPoint
from groupstore.services import venue_selection_set
from groupstore.tests.factories import make_leader, make_store
from orders.models import Order, OrderEvent, Pickup
from orders.services.lifecycle import order_ship
from orders.services.sweepers import orders_confirm_receipt_due, pickups_confirm_uncollected
from products.tests.factories import SkuFactory
from shop.notifications.models import Notification
from shop.testing.asserts import assert_error

from .helpers import ADDRESS, sandbox_pay

pytestmark = pytest.mark.django_db

POINT = {
    "name": "阳光小区自提点",
    "region": "上海市 浦东新区",
    "address": "阳光小区 3 号楼便利店",
    "opening_hours": "每天 9:00-21:00",
    "contact_name": "王团长",
    "contact_phone": "13900139000",
}


class Venue:
    """A certified leader's venue with a selection, a pickup point and a member."""

    def __init__(self, make_client):
        self.leader = UserFactory(nickname="王团长")
        make_leader(user=self.leader)
        self.store, _, (self.member, self.other_member) = make_store(owner=self.leader, members=2)
        self.sku = SkuFactory(price_fen=1_500, on_hand=50)
        self.outside_sku = SkuFactory(price_fen=900, on_hand=50)
        venue_selection_set(store_id=self.store.pk, user=self.leader, product_ids=[self.sku.product_id])
        self.make_client = make_client
        response = make_client(self.leader).put("/api/v1/leaders/me/pickup-point", POINT, format="json")
        assert response.status_code == 201, response.content
        self.point_id = response.json()["id"]

    def checkout(self, buyer=None, sku=None, **delivery):
        body = {"store_id": self.store.pk, "items": [{"sku_id": (sku or self.sku).pk, "qty": 1}]}
        body.update(delivery or {"delivery": {"type": "pickup", "pickup_point_id": self.point_id}})
        return self.make_client(buyer or self.member).post("/api/v1/orders", body, format="json")

    def paid_pickup_order(self, buyer=None) -> Order:
        response = self.checkout(buyer)
        assert response.status_code == 201, response.content
        order = Order.objects.get(pk=response.json()["orders"][0]["id"])
        sandbox_pay(order.payment)
        order.refresh_from_db()
        return order

    def shipped_pickup_order(self, buyer=None, now=None) -> Order:
        order = self.paid_pickup_order(buyer)
        order_ship(
            order_id=order.pk,
            merchant_id=order.merchant_id,
            carrier="SF",
            tracking_no="SF1001",
            actor=None,
            now=now,
        )
        order.refresh_from_db()
        return order

    def code_of(self, order, buyer=None) -> str:
        response = self.make_client(buyer or order.buyer).get(f"/api/v1/orders/{order.pk}/pickup")
        assert response.status_code == 200, response.content
        return response.json()["code"]

    def arrive(self, order):
        return self.make_client(self.leader).post(f"/api/v1/leaders/me/orders/{order.pk}/arrived")

    def redeem(self, code, leader=None):
        return self.make_client(leader or self.leader).post(
            "/api/v1/leaders/me/pickups", {"code": code}, format="json"
        )


@pytest.fixture
def venue(make_client):
    return Venue(make_client)


# --- venues ---------------------------------------------------------------------------


def test_a_venue_order_outside_the_selection_is_refused_with_409(venue):
    response = venue.checkout(sku=venue.outside_sku, address=ADDRESS)

    body = assert_error(response, 409, "not_in_venue_selection")
    assert venue.outside_sku.product.title in body["message"]
    assert not Order.objects.filter(store=venue.store).exists()


def test_a_quote_through_a_venue_refuses_a_product_outside_the_selection_too(venue):
    response = venue.make_client(venue.member).post(
        "/api/v1/checkout/quote",
        {"store_id": venue.store.pk, "items": [{"sku_id": venue.outside_sku.pk, "qty": 1}]},
        format="json",
    )

    assert_error(response, 409, "not_in_venue_selection")


def test_a_venue_sells_what_its_leader_selected(venue):
    response = venue.checkout(address=ADDRESS)

    assert response.status_code == 201, response.content
    (order,) = response.json()["orders"]
    assert order["delivery"]["type"] == "address"
    assert order["delivery"]["pickup_point"] is None
    assert order["address"] == ADDRESS


def test_an_ordinary_store_sells_anything_on_sale(make_client):
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=5)

    response = make_client(buyer).post(
        "/api/v1/orders",
        {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_the_selection_lists_the_venues_products_for_members(venue):
    response = venue.make_client(venue.member).get(f"/api/v1/stores/{venue.store.pk}/selection")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_venue"] is True
    assert body["product_ids"] == [venue.sku.product_id]
    assert [p["id"] for p in body["products"]] == [venue.sku.product_id]
    assert body["products"][0]["price_fen"] == 1_500


# --- pickup points ----------------------------------------------------------------------


def test_only_a_certified_leader_may_open_a_pickup_point(make_client):
    shopper = UserFactory()

    response = make_client(shopper).put("/api/v1/leaders/me/pickup-point", POINT, format="json")

    assert_error(response, 403, "not_a_certified_leader")
    assert not PickupPoint.objects.exists()


def test_put_again_changes_the_point_and_delete_closes_it_for_new_orders(venue):
    client = venue.make_client(venue.leader)

    changed = client.put("/api/v1/leaders/me/pickup-point", {**POINT, "opening_hours": "9-18"}, format="json")
    unconfirmed = client.delete("/api/v1/leaders/me/pickup-point")
    closed = client.delete("/api/v1/leaders/me/pickup-point", {"confirm": "close"}, format="json")
    refused = venue.checkout()

    assert changed.status_code == 200
    assert changed.json()["id"] == venue.point_id
    assert changed.json()["opening_hours"] == "9-18"
    assert_error(unconfirmed, 400, "confirmation_required")
    assert closed.status_code == 200
    assert closed.json()["is_open"] is False
    assert_error(refused, 409, "pickup_point_unavailable")


def test_checkout_to_another_leaders_point_is_refused(venue, make_client):
    other_leader = UserFactory()
    make_leader(user=other_leader)
    other = make_client(other_leader).put("/api/v1/leaders/me/pickup-point", POINT, format="json").json()

    response = venue.checkout(delivery={"type": "pickup", "pickup_point_id": other["id"]})

    body = assert_error(response, 400, "validation_error")
    assert "delivery.pickup_point_id" in body["fields"]


def test_a_pickup_order_carries_the_point_not_an_address(venue):
    response = venue.checkout()

    assert response.status_code == 201, response.content
    (order,) = response.json()["orders"]
    assert order["address"] is None
    assert order["delivery"]["type"] == "pickup"
    point = order["delivery"]["pickup_point"]
    assert point["id"] == venue.point_id
    assert point["name"] == POINT["name"]
    assert "contact_phone" not in point  # the carrier's contact is for the merchant
    assert order == venue.make_client(venue.member).get(f"/api/v1/orders/{order['id']}").json()
    stored = Order.objects.get(pk=order["id"])
    assert stored.address == {}
    assert stored.pickup_point_id == venue.point_id
    assert Pickup.objects.get(order=stored).status == Pickup.Status.AWAITING_PARCEL


def test_the_code_is_shown_only_to_its_buyer(venue):
    order = venue.paid_pickup_order()

    mine = venue.make_client(venue.member).get(f"/api/v1/orders/{order.pk}/pickup")
    others = [
        venue.make_client(u).get(f"/api/v1/orders/{order.pk}/pickup")
        for u in (venue.leader, venue.other_member)
    ]
    listed = venue.make_client(venue.leader).get("/api/v1/leaders/me/orders").json()["results"]

    assert mine.status_code == 200
    body = mine.json()
    assert len(body["code"]) == 6
    assert body["code"].isdigit()
    assert body["status"] == "awaiting_parcel"
    for response in others:
        assert_error(response, 404)
    assert body["code"] not in str(listed)


def test_merchant_orders_show_and_filter_parcels_by_point(venue, make_client):
    from merchants.tests.factories import MerchantStaffFactory

    staff = MerchantStaffFactory(merchant=venue.sku.merchant)
    pickup_order = venue.paid_pickup_order()
    venue.checkout(address=ADDRESS)
    client = make_client(staff.user)
    notice = Notification.objects.get(recipient=staff.user, kind="order_to_ship")

    response = client.get("/api/v1/merchant/orders", {"pickup_point_id": venue.point_id})
    every = client.get("/api/v1/merchant/orders")

    assert response.status_code == 200, response.content
    (row,) = response.json()["results"]
    assert row["id"] == pickup_order.pk
    assert row["delivery"]["pickup_point"]["contact_phone"] == POINT["contact_phone"]
    assert every.json()["count"] == 2
    # the to-ship notice names the point and its contact (the merchant ships there)
    assert notice.data["order_id"] == pickup_order.pk
    assert notice.data["pickup_point"]["contact_name"] == POINT["contact_name"]


# --- arrival and redemption ------------------------------------------------------------------


def test_shipping_a_pickup_order_uploads_it_to_wechat_as_collected_by_the_buyer(
    venue, django_capture_on_commit_callbacks
):
    pickup_order = venue.paid_pickup_order()
    home = venue.make_client(venue.other_member).post(
        "/api/v1/orders",
        {"store_id": venue.store.pk, "items": [{"sku_id": venue.sku.pk, "qty": 1}], "address": ADDRESS},
        format="json",
    )
    home_order = Order.objects.get(pk=home.json()["orders"][0]["id"])
    sandbox_pay(home_order.payment)

    with (
        mock.patch("orders.services.lifecycle.payment_upload_shipping_task") as task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        for order in (pickup_order, home_order):
            order_ship(
                order_id=order.pk, merchant_id=order.merchant_id, carrier="SF", tracking_no="SF9", actor=None
            )

    pickup_flags = {call.args[0]: call.args[-1] for call in task.delay.call_args_list}
    assert pickup_flags == {pickup_order.payment_id: True, home_order.payment_id: False}


def test_a_code_is_redeemable_only_after_arrival_and_then_confirms_receipt(venue):
    order = venue.shipped_pickup_order()
    code = venue.code_of(order)

    early = venue.redeem(code)
    arrived = venue.arrive(order)
    collected = venue.redeem(code)

    assert_error(early, 409, "pickup_not_ready")
    assert arrived.status_code == 200, arrived.content
    assert arrived.json()["pickup"]["status"] == "ready"
    assert Notification.objects.filter(recipient=venue.member, kind="pickup_ready").count() == 1
    assert collected.status_code == 200, collected.content
    assert collected.json()["status"] == "received"
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    assert order.received_at is not None
    assert set(order.events.values_list("kind", flat=True)) >= {"arrived", "collected", "received"}
    assert (
        venue.make_client(venue.member).get(f"/api/v1/orders/{order.pk}/pickup").json()["status"]
        == "collected"
    )


def test_a_code_redeemed_twice_is_refused_the_second_time(venue):
    order = venue.shipped_pickup_order()
    venue.arrive(order)
    code = venue.code_of(order)

    first = venue.redeem(code)
    second = venue.redeem(code)

    assert first.status_code == 200
    assert_error(second, 409, "pickup_already_collected")
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.COLLECTED).count() == 1


def test_another_leaders_code_answers_404_like_a_wrong_one(venue, make_client):
    order = venue.shipped_pickup_order()
    venue.arrive(order)
    code = venue.code_of(order)
    other_leader = UserFactory()
    make_leader(user=other_leader)
    make_client(other_leader).put("/api/v1/leaders/me/pickup-point", POINT, format="json")

    theirs = venue.redeem(code, leader=other_leader)
    wrong = venue.redeem("000000" if code != "000000" else "000001", leader=other_leader)

    assert_error(theirs, 404, "pickup_not_found")
    assert_error(wrong, 404, "pickup_not_found")
    assert theirs.json() == wrong.json()
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_five_wrong_codes_an_hour_then_even_the_right_one_waits(venue):
    order = venue.shipped_pickup_order()
    venue.arrive(order)
    code = venue.code_of(order)
    wrong = [f"{n:06d}" for n in range(20) if f"{n:06d}" != code][:5]

    answers = [venue.redeem(c) for c in wrong]
    blocked = venue.redeem(code)

    assert [a.status_code for a in answers] == [404] * 5
    assert_error(blocked, 429, "pickup_tries_exhausted")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_the_leader_sees_venue_orders_without_phones_or_addresses(venue):
    venue.paid_pickup_order()
    venue.checkout(buyer=venue.other_member, address=ADDRESS)

    response = venue.make_client(venue.leader).get("/api/v1/leaders/me/orders")
    pickups = venue.make_client(venue.leader).get("/api/v1/leaders/me/orders", {"delivery_type": "pickup"})

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert len(rows) == 2
    assert {r["buyer_nickname"] for r in rows} == {venue.member.nickname, venue.other_member.nickname}
    assert {r["delivery_type"] for r in rows} == {"pickup", "address"}
    text = str(rows)
    assert ADDRESS["phone"] not in text
    assert ADDRESS["detail"] not in text
    assert all("address" not in r and "phone" not in r for r in rows)
    assert [r["delivery_type"] for r in pickups.json()["results"]] == ["pickup"]


def test_a_shopper_who_is_no_leader_has_no_venue_orders(venue):
    response = venue.make_client(venue.member).get("/api/v1/leaders/me/orders")

    assert_error(response, 403, "not_a_certified_leader")


def test_cancelling_an_unpaid_pickup_order_frees_its_code(venue):
    response = venue.checkout()
    order_id = response.json()["orders"][0]["id"]

    cancelled = venue.make_client(venue.member).post(f"/api/v1/orders/{order_id}/cancel")

    assert cancelled.status_code == 200, cancelled.content
    assert Pickup.objects.get(order_id=order_id).status == Pickup.Status.CLOSED


# --- the sweeper: 7 days after arrival, not 10 after shipping -----------------------------------


def test_an_uncollected_parcel_is_received_7_days_after_it_arrived_not_10_after_shipping(venue):
    from orders.services.pickups import pickup_mark_arrived

    shipped_at = timezone.now() - timedelta(days=30)
    order = venue.shipped_pickup_order(now=shipped_at)
    pickup_mark_arrived(leader=venue.leader, order_id=order.pk, now=shipped_at + timedelta(days=9))

    ordinary = orders_confirm_receipt_due(shipped_at + timedelta(days=11))
    too_early = pickups_confirm_uncollected(shipped_at + timedelta(days=15))
    due = pickups_confirm_uncollected(shipped_at + timedelta(days=16, minutes=1))

    assert (ordinary, too_early, due) == (0, 0, 1)
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    assert order.received_at == shipped_at + timedelta(days=16, minutes=1)
    # the buyer may still collect it: the code stays redeemable and marks it collected
    assert venue.redeem(venue.code_of(order)).status_code == 200
    assert Pickup.objects.get(order=order).status == Pickup.Status.COLLECTED


def test_a_parcel_never_marked_arrived_is_received_17_days_after_shipping(venue):
    shipped_at = timezone.now() - timedelta(days=30)
    order = venue.shipped_pickup_order(now=shipped_at)

    early = pickups_confirm_uncollected(shipped_at + timedelta(days=16))
    late = pickups_confirm_uncollected(shipped_at + timedelta(days=17, minutes=1))

    assert (early, late) == (0, 1)
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    # the parcel turns up after all: the leader marks it arrived and hands it out
    assert venue.arrive(order).status_code == 200
    assert venue.redeem(venue.code_of(order)).status_code == 200
    assert Pickup.objects.get(order=order).status == Pickup.Status.COLLECTED


def test_a_point_closed_after_the_checkout_looked_takes_no_order(venue, monkeypatch):
    """The view checked the point open; the leader's close committed before the checkout's
    transaction: the checkout reads the point again under its lock and refuses."""
    from groupstore.models import PickupPoint
    from orders.api import views

    looked = views.pickup_point_for_checkout

    def then_closed(**kwargs):
        point = looked(**kwargs)
        PickupPoint.objects.filter(pk=point.pk).update(is_open=False)
        return point

    monkeypatch.setattr(views, "pickup_point_for_checkout", then_closed)
    before = Order.objects.count()

    response = venue.checkout()

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "pickup_point_unavailable"
    assert Order.objects.count() == before


# --- ops --------------------------------------------------------------------------------------


def test_ops_see_the_parcel_without_its_code_and_may_close_a_point(venue, admin_client):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    order = venue.paid_pickup_order()
    code = Pickup.objects.get(order=order).code

    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    listed = admin_client.get("/admin/orders/order/", {"delivery": "pickup"})
    closed = admin_client.post(
        "/admin/groupstore/pickuppoint/", {"action": "close_points", ACTION_CHECKBOX_NAME: [venue.point_id]}
    )

    assert page.status_code == 200
    assert "On its way to the point" in page.content.decode()
    assert f">{code}<" not in page.content.decode()
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 1
    assert closed.status_code == 302
    assert PickupPoint.objects.get(pk=venue.point_id).is_open is False
    from shop.audit.models import AuditEntry

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.actor_name) == (
        "pickup_point.close",
        str(venue.point_id),
        "admin",
    )


def test_the_venue_check_costs_a_venue_one_read_and_an_ordinary_store_none(venue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.services.checkout import checkout_quote

    store, _, (buyer,) = make_store(members=1)
    items = [{"sku_id": venue.sku.pk, "qty": 1}]
    checkout_quote(buyer=buyer, store_id=store.pk, items=items)  # warm: prepared statements, caches

    with CaptureQueriesContext(connection) as ordinary:
        checkout_quote(buyer=buyer, store_id=store.pk, items=items)
    with CaptureQueriesContext(connection) as at_venue:
        checkout_quote(buyer=venue.member, store_id=venue.store.pk, items=items)

    assert len(at_venue) == len(ordinary) + 1
    assert any("venueselection" in q["sql"] for q in at_venue)
    assert not any("venueselection" in q["sql"] for q in ordinary)


def test_refunding_a_paid_pickup_order_before_shipping_frees_its_code(venue):
    from orders.services.refunds import order_refund_full

    order = venue.paid_pickup_order()

    order_refund_full(order_id=order.pk, reason="out of stock")

    assert Pickup.objects.get(order=order).status == Pickup.Status.CLOSED


def test_a_leader_holding_parcels_cannot_erase_the_account_and_exports_the_point(venue):
    venue.shipped_pickup_order()
    client = venue.make_client(venue.leader)

    exported = client.get("/api/v1/me/export")
    refused = client.delete("/api/v1/me", {"confirm": "delete"}, format="json")

    assert exported.status_code == 200, exported.content
    assert exported.json()["leader"]["pickup_point"]["name"] == POINT["name"]
    error = assert_error(refused, 409)
    assert "pickup point has 1 parcel" in error["message"]


@pytest.mark.parametrize("write", ["arrive", "redeem"])
def test_a_leader_decertified_just_after_a_write_is_answered_with_it_not_403(venue, monkeypatch, write):
    """The write checked the leader and committed; the answer must describe it, not refuse."""
    from groupstore.models import Leader
    from orders.api import views

    order = venue.shipped_pickup_order()
    code = venue.code_of(order)
    if write == "redeem":
        assert venue.arrive(order).status_code == 200
    name = "pickup_mark_arrived" if write == "arrive" else "pickup_redeem"
    service = getattr(views, name)

    def then_decertified(**kwargs):
        done = service(**kwargs)
        Leader.objects.filter(user=venue.leader).update(status=Leader.Status.REJECTED)
        return done

    monkeypatch.setattr(views, name, then_decertified)
    response = venue.arrive(order) if write == "arrive" else venue.redeem(code)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == order.pk
