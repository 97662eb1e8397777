"""After-sales cases through the API: the buyer asks, the merchant decides, ops arbitrate.
Someone else's case answers 404 and changes nothing; a dispute freezes the deposit and
keeps the order from completing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.registry import open_after_sales_count, open_dispute_count
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale, Order
from orders.services import sweepers
from orders.services.after_sales import after_sale_arbitrate
from orders.services.lifecycle import order_confirm_receipt, order_ship
from orders.services.sweepers import orders_complete_due
from products.tests.factories import SkuFactory
from rebates.tests.helpers import make_paid_order
from shop.payments.models import Refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)
    store, _, (member, stranger) = make_store(members=2)
    order = make_paid_order(buyer=member, store=store, sku=sku, qty=2)
    return staff, order, member, stranger


def _open(client, order, **overrides):
    body = {
        "type": "refund",
        "items": [{"order_item_id": order.items.get().pk, "qty": 1}],
        "amount_fen": 1_990,
        "reason": "少发了一件",
        **overrides,
    }
    return client.post(f"/api/v1/orders/{order.pk}/after-sales", body, format="json")


def test_buyer_opens_merchant_approves_and_the_money_goes_back(make_client, shop):
    staff, order, member, _ = shop
    buyer, merchant = make_client(member), make_client(staff.user)

    opened = _open(buyer, order)
    assert opened.status_code == 201, opened.json()
    case = opened.json()
    assert (case["status"], case["amount_fen"], case["type"]) == ("requested", 1_990, "refund")
    assert open_after_sales_count(order.merchant_id) >= 1

    listed = merchant.get("/api/v1/merchant/after-sales?status=requested").json()
    assert [c["id"] for c in listed["results"]] == [case["id"]]

    approved = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "refunded"
    again = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json")
    assert again.status_code == 200

    assert Refund.objects.filter(payment=order.payment).count() == 1
    detail = buyer.get(f"/api/v1/orders/{order.pk}").json()
    assert detail["refunded_fen"] == 1_990
    assert detail["after_sales"][0]["status"] == "refunded"
    assert detail["status"] == "paid"  # one of two units refunded


def test_a_second_open_case_on_one_order_is_refused(make_client, shop):
    _, order, member, _ = shop
    buyer = make_client(member)
    assert _open(buyer, order).status_code == 201

    second = _open(buyer, order)

    assert second.status_code == 409
    assert second.json()["error"]["code"] == "after_sale_not_allowed"
    assert AfterSale.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_fen": 3_981}, "amount_fen"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"type": "exchange"}, "type"),
        ({"items": []}, "items.non_field_errors"),
        ({"items": [{"order_item_id": 999_999, "qty": 1}]}, "items.0.order_item_id"),
        ({"items": [{"order_item_id": "x", "qty": 1}]}, "items.0.order_item_id"),
    ],
)
def test_bad_cases_get_a_validation_error_and_write_nothing(make_client, shop, overrides, field):
    _, order, member, _ = shop

    response = _open(make_client(member), order, **overrides)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert AfterSale.objects.count() == 0


def test_someone_elses_order_and_case_are_not_found(make_client, shop):
    staff, order, member, stranger = shop
    case_id = _open(make_client(member), order).json()["id"]
    other_merchant = MerchantStaffFactory()

    assert _open(make_client(stranger), order).status_code == 404
    assert make_client(stranger).get(f"/api/v1/after-sales/{case_id}").status_code == 404
    assert (
        make_client(stranger).post(f"/api/v1/after-sales/{case_id}/escalate", {}, format="json").status_code
        == 404
    )
    approve = make_client(other_merchant.user).post(
        f"/api/v1/merchant/after-sales/{case_id}/approve", {}, format="json"
    )
    assert approve.status_code == 404
    assert (
        make_client().post(f"/api/v1/merchant/after-sales/{case_id}/approve", {}, format="json").status_code
        == 401
    )
    assert AfterSale.objects.get(pk=case_id).status == "requested"
    assert Refund.objects.count() == 0


def test_a_rejected_buyer_disputes_ops_rule_and_only_then_the_order_completes(make_client, shop):
    staff, order, member, _ = shop
    buyer, merchant = make_client(member), make_client(staff.user)
    now = timezone.now()
    order_ship(
        order_id=order.pk,
        merchant_id=order.merchant_id,
        carrier="SF",
        tracking_no="SF0001",
        actor=staff.user,
        now=now,
    )
    order_confirm_receipt(order_id=order.pk, actor=member, now=now)
    case_id = _open(buyer, order, amount_fen=500, type="return_refund").json()["id"]

    rejected = merchant.post(
        f"/api/v1/merchant/after-sales/{case_id}/reject", {"reason": "已签收无问题"}, format="json"
    )
    assert rejected.json()["status"] == "rejected"
    disputed = buyer.post(f"/api/v1/after-sales/{case_id}/escalate", {"reason": "商品破损"}, format="json")
    assert disputed.json()["status"] == "disputed"
    assert open_dispute_count(order.merchant_id) == 1

    # the window closes while the dispute is open: the order waits
    later = now + settings.SHOP_RULES["AFTER_SALES_WINDOW"] + timedelta(minutes=1)
    assert orders_complete_due(later) == 0
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED

    after_sale_arbitrate(case_id=case_id, refund=True, actor=staff.user, note="破损属实")

    assert open_dispute_count(order.merchant_id) == 0
    assert AfterSale.objects.get(pk=case_id).refunded_fen == 500
    assert orders_complete_due(later) == 1
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (Order.Status.COMPLETED, 500)


def test_a_completed_order_takes_no_new_case(make_client, shop):
    staff, order, member, _ = shop
    Order.objects.filter(pk=order.pk).update(status=Order.Status.COMPLETED)

    response = _open(make_client(member), order)

    assert response.status_code == 409
    assert AfterSale.objects.count() == 0


def test_a_received_order_past_its_window_takes_no_new_case_before_the_sweeper_completes_it(
    make_client, shop
):
    from datetime import timedelta

    from django.utils import timezone

    staff, order, member, _ = shop
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.RECEIVED, after_sales_closes_at=timezone.now() - timedelta(minutes=1)
    )

    response = _open(make_client(member), order)

    assert response.status_code == 409
    assert "window" in response.json()["error"]["message"]
    assert AfterSale.objects.count() == 0
    # The assistant says the same, from the same rule.
    answer = make_client(member).post(
        "/api/v1/assistant/messages", {"text": "能退款吗", "order_id": order.pk}, format="json"
    )
    assert answer.json()["data"]["reason"] == "window_closed"
    assert answer.json()["data"]["can_request"] is False
    assert "售后期已过" in answer.json()["reply"]


def test_the_merchant_is_told_of_an_order_to_ship_and_of_each_case_once(make_client, shop):
    from shop.notifications.models import Notification

    staff, order, member, _ = shop
    to_ship = Notification.objects.get(recipient=staff.user, kind="order_to_ship")
    assert to_ship.data["order_id"] == order.pk
    assert to_ship.data["address"]["detail"] == "世纪大道100号"  # the merchant ships there

    case_id = _open(make_client(member), order).json()["id"]
    make_client(staff.user).post(
        f"/api/v1/merchant/after-sales/{case_id}/reject", {"reason": "no"}, format="json"
    )
    make_client(member).post(f"/api/v1/after-sales/{case_id}/escalate", {}, format="json")
    make_client(member).post(f"/api/v1/after-sales/{case_id}/escalate", {}, format="json")  # a double tap

    kinds = list(
        Notification.objects.filter(recipient=staff.user).values_list("kind", flat=True).order_by("pk")
    )
    assert kinds == ["order_to_ship", "after_sale_opened", "after_sale_disputed"]
    buyer_kinds = list(
        Notification.objects.filter(recipient=member, kind="after_sale_update").values_list(
            "data__status", flat=True
        )
    )
    assert buyer_kinds == ["rejected"]


def test_one_sweep_completes_every_due_order_a_batch_at_a_time_skipping_one_with_a_case(
    make_client, monkeypatch
):
    """Beat runs the sweeper once a minute: it takes batch after batch (here of 2) until
    nothing is due, and an order a case holds back does not stop the ones after it."""
    monkeypatch.setattr(sweepers, "BATCH", 2)
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=990, on_hand=20)
    store, _, members = make_store(members=5)
    now = timezone.now()
    orders = [make_paid_order(buyer=m, store=store, sku=sku) for m in members]
    for order in orders:
        order_ship(
            order_id=order.pk,
            merchant_id=order.merchant_id,
            carrier="SF",
            tracking_no="SF1",
            actor=staff.user,
            now=now,
        )
        order_confirm_receipt(order_id=order.pk, actor=order.buyer, now=now)
    held = orders[1]
    assert _open(make_client(held.buyer), held, amount_fen=100).status_code == 201

    later = now + settings.SHOP_RULES["AFTER_SALES_WINDOW"] + timedelta(minutes=1)
    assert orders_complete_due(later) == 4
    assert orders_complete_due(later) == 0  # nothing left to do: a second run changes nothing

    statuses = dict(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("pk", "status"))
    assert statuses == {o.pk: Order.Status.RECEIVED if o is held else Order.Status.COMPLETED for o in orders}
