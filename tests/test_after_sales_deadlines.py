"""After-sales never blocks forever (docs/design.md "Orders and payments"): every open case waits
for someone until a deadline, and ``run_sweepers --now`` decides it when nobody acted.

- the merchant answers a request within 48 h, or it is approved: a refund-only case is
  refunded through the gateway, a return case waits for the goods at the return address;
- the buyer posts the return within 7 days, or the case closes;
- the merchant refunds within 10 days of the post, or the refund is made;
- a rejected buyer may ask ops within 7 days;
- the merchant is warned 12 h before each of its deadlines, once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale, Order
from orders.services.lifecycle import order_confirm_receipt, order_ship
from products.tests.factories import SkuFactory
from rebates.tests.helpers import make_paid_order
from shop.notifications.models import Notification
from shop.payments.models import Refund

pytestmark = pytest.mark.django_db

RETURN_ADDRESS = {"name": "退货仓", "phone": "13800000000", "region": "浙江省杭州市", "detail": "仓前街 1 号"}


@pytest.fixture
def shop():
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku, qty=2)
    return staff, order, member


def _open(client, order, *, kind="refund", amount_fen=1_990):
    body = {
        "type": kind,
        "items": [{"order_item_id": order.items.get().pk, "qty": 1}],
        "amount_fen": amount_fen,
        "reason": "质量问题",
    }
    response = client.post(f"/api/v1/orders/{order.pk}/after-sales", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _sweep(at) -> None:
    call_command("run_sweepers", "--now", at.isoformat())


def _case(case_id: int) -> AfterSale:
    return AfterSale.objects.get(pk=case_id)


def _warnings(staff, case_id: int) -> list[Notification]:
    return list(
        Notification.objects.filter(
            recipient=staff.user, kind="after_sale_deadline_near", data__after_sale_id=case_id
        )
    )


def test_a_request_shows_its_deadline_and_the_merchant_is_warned_12_hours_ahead_once(make_client, shop):
    staff, order, member = shop
    case = _open(make_client(member), order)
    opened_at = _case(case["id"]).created_at
    respond_by = _case(case["id"]).respond_by
    assert abs(respond_by - opened_at - timedelta(hours=48)) < timedelta(seconds=5)
    assert case["respond_by"] is not None
    assert case["refund_by"] is None

    _sweep(respond_by - timedelta(hours=13))
    assert _warnings(staff, case["id"]) == []
    _sweep(respond_by - timedelta(hours=11))
    _sweep(respond_by - timedelta(hours=10))
    assert len(_warnings(staff, case["id"])) == 1
    assert _case(case["id"]).status == "requested"


def test_a_merchant_that_never_answers_a_refund_request_is_overruled_49_hours_later(make_client, shop):
    staff, order, member = shop
    case = _open(make_client(member), order)

    _sweep(timezone.now() + timedelta(hours=47))
    assert _case(case["id"]).status == "requested"
    _sweep(timezone.now() + timedelta(hours=49))

    decided = _case(case["id"])
    assert decided.status == "refunded"
    assert decided.decided_by is None
    assert "automatically" in decided.ops_note
    refund = Refund.objects.get(payment=order.payment)
    assert (refund.amount_fen, refund.status) == (1_990, "succeeded")  # through the sandbox gateway
    order.refresh_from_db()
    assert order.refunded_fen == 1_990
    _sweep(timezone.now() + timedelta(hours=50))  # a second run changes nothing
    assert Refund.objects.filter(payment=order.payment).count() == 1
    call_command("ledger_check")


def test_a_return_waits_at_the_return_address_and_is_refunded_when_it_arrives(make_client, shop):
    staff, order, member = shop
    buyer, merchant = make_client(member), make_client(staff.user)
    case = _open(buyer, order, kind="return_refund")

    no_address = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json")
    assert no_address.status_code == 409
    assert no_address.json()["error"]["code"] == "return_address_missing"
    assert (
        merchant.patch("/api/v1/merchant/profile", {"return_address": RETURN_ADDRESS}, format="json").json()[
            "return_address"
        ]
        == RETURN_ADDRESS
    )

    approved = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json").json()
    assert (approved["status"], approved["return_address"]) == ("awaiting_return", RETURN_ADDRESS)
    assert approved["return_by"] is not None
    assert Refund.objects.count() == 0

    early = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/return-received", format="json")
    assert early.status_code == 409
    posted = buyer.post(
        f"/api/v1/after-sales/{case['id']}/return-shipment",
        {"carrier": "SF", "tracking_no": "SF123456"},
        format="json",
    ).json()
    assert (posted["status"], posted["return_tracking_no"]) == ("return_shipped", "SF123456")
    shipped_at = _case(case["id"]).return_shipped_at
    assert _case(case["id"]).refund_by - shipped_at == timedelta(days=10)

    received = merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/return-received", format="json")
    assert received.status_code == 200, received.json()
    assert received.json()["status"] == "refunded"
    assert Refund.objects.get(payment=order.payment).amount_fen == 1_990


def test_a_return_the_merchant_never_refunds_is_refunded_10_days_after_it_was_posted(make_client, shop):
    staff, order, member = shop
    buyer, merchant = make_client(member), make_client(staff.user)
    merchant.patch("/api/v1/merchant/profile", {"return_address": RETURN_ADDRESS}, format="json")
    case = _open(buyer, order, kind="return_refund")
    merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json")
    buyer.post(
        f"/api/v1/after-sales/{case['id']}/return-shipment",
        {"carrier": "YTO", "tracking_no": "YT0001"},
        format="json",
    )
    refund_by = _case(case["id"]).refund_by

    _sweep(refund_by - timedelta(hours=11))
    assert len(_warnings(staff, case["id"])) == 1  # the refund deadline is the merchant's too
    assert _case(case["id"]).status == "return_shipped"
    _sweep(refund_by + timedelta(minutes=1))

    assert _case(case["id"]).status == "refunded"
    assert Refund.objects.get(payment=order.payment).amount_fen == 1_990
    call_command("ledger_check")


def test_a_return_the_buyer_never_posts_closes_after_7_days(make_client, shop):
    staff, order, member = shop
    buyer, merchant = make_client(member), make_client(staff.user)
    merchant.patch("/api/v1/merchant/profile", {"return_address": RETURN_ADDRESS}, format="json")
    case = _open(buyer, order, kind="return_refund")
    merchant.post(f"/api/v1/merchant/after-sales/{case['id']}/approve", {}, format="json")
    return_by = _case(case["id"]).return_by

    _sweep(return_by + timedelta(minutes=1))

    assert _case(case["id"]).status == "closed"
    late = buyer.post(
        f"/api/v1/after-sales/{case['id']}/return-shipment",
        {"carrier": "SF", "tracking_no": "SF9"},
        format="json",
    )
    assert late.status_code == 409
    assert Refund.objects.count() == 0


def test_an_unanswered_return_of_a_merchant_with_no_return_address_is_refunded(make_client, shop):
    staff, order, member = shop
    case = _open(make_client(member), order, kind="return_refund")

    _sweep(timezone.now() + timedelta(hours=49))

    assert _case(case["id"]).status == "refunded"
    assert Refund.objects.get(payment=order.payment).amount_fen == 1_990


def test_a_rejected_buyer_may_ask_ops_only_within_7_days(make_client, shop):
    staff, order, member = shop
    buyer, merchant = make_client(member), make_client(staff.user)
    first = _open(buyer, order)
    merchant.post(f"/api/v1/merchant/after-sales/{first['id']}/reject", {"reason": "已发货"}, format="json")
    assert _case(first["id"]).escalate_by is not None
    AfterSale.objects.filter(pk=first["id"]).update(escalate_by=timezone.now() - timedelta(minutes=1))

    late = buyer.post(f"/api/v1/after-sales/{first['id']}/escalate", {}, format="json")

    assert late.status_code == 409
    assert late.json()["error"]["code"] == "after_sale_deadline_passed"
    assert _case(first["id"]).status == "rejected"


def test_an_order_whose_case_ended_by_deadline_completes_in_the_same_run(make_client, shop):
    staff, order, member = shop
    now = timezone.now()
    order_ship(order_id=order.pk, merchant_id=order.merchant_id, carrier="SF", tracking_no="SF1", actor=None)
    order_confirm_receipt(order_id=order.pk, now=now)
    case = _open(make_client(member), order, amount_fen=500)
    AfterSale.objects.filter(pk=case["id"]).update(respond_by=now + timedelta(hours=1))

    _sweep(now + timedelta(days=8))  # past both the window (7 days) and the answer deadline

    assert _case(case["id"]).status == "refunded"
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (Order.Status.COMPLETED, 500)
