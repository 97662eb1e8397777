"""Each event the design names sends its subscribe message to the right person, once, with
that person's own facts — through the real services, committed (tasks run eagerly on
commit), the sandbox sender recording what WeChat would have been sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.models import Order, Team
from orders.services.lifecycle import order_ship
from orders.services.pickups import pickup_mark_arrived
from orders.services.refunds import order_refund_full
from orders.services.sweepers import teams_expire_due
from orders.tests.helpers import buy, buy_paid, team_sku
from products.tests.factories import SkuFactory
from rebates.services.settlement import orders_settle
from rebates.tests.helpers import make_completed_orders
from shop.notifications.models import Notification, SandboxSubscribeSend, SubscribeMessage
from shop.notifications.tests.subscribe_helpers import grant, template_id

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = list(settings.WECHAT_SUBSCRIBE_TEMPLATES)


def subscribe_all(*users, count: int = 5) -> None:
    for user in users:
        for kind in KINDS:
            grant(user, kind, count=count)


def sent(user, kind: str) -> list[SandboxSubscribeSend]:
    return list(SandboxSubscribeSend.objects.filter(touser=user.openid, template_id=template_id(kind)))


def values(send: SandboxSubscribeSend) -> list[str]:
    """The message's field values in its template's order (jsonb keeps no key order)."""
    templates = settings.WECHAT_SUBSCRIBE_TEMPLATES
    kind = next(k for k, t in templates.items() if t["template_id"] == send.template_id)
    return [send.data[key]["value"] for key in templates[kind]["data"]]


def test_paid_shipped_and_refund_made_reach_the_buyer_once_each():
    store, _, (buyer,) = make_store(members=1)
    subscribe_all(buyer)
    sku = SkuFactory(price_fen=2_690, on_hand=10)

    order = buy_paid(buyer=buyer, store=store, sku=sku, qty=2)
    for _ in range(2):  # shipping again is a no-op: nothing told twice
        order_ship(
            order_id=order.pk, merchant_id=order.merchant_id, carrier="顺丰", tracking_no="SF1", actor=None
        )

    (paid,) = sent(buyer, "order_paid")
    assert values(paid)[:2] == [str(order.pk), "53.80元"]
    assert paid.page == f"pages/order/detail?id={order.pk}"
    (shipped,) = sent(buyer, "order_shipped")
    assert values(shipped)[2:] == ["顺丰", "SF1"]

    second = buy_paid(buyer=buyer, store=store, sku=sku)
    order_refund_full(order_id=second.pk, reason="changed my mind")
    second.refresh_from_db()
    assert second.status == Order.Status.REFUNDED
    (refund,) = sent(buyer, "refund_made")
    assert values(refund)[:2] == [str(second.pk), "26.90元"]


def test_a_team_that_succeeds_tells_every_member_once():
    store, _, (a, b) = make_store(members=2)
    subscribe_all(a, b)
    sku = team_sku(team_size=2)

    first = buy_paid(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    buy_paid(buyer=b, store=store, sku=sku, team={"join": team.pk})

    for user in (a, b):
        (message,) = sent(user, "team_succeeded")
        assert values(message)[1] == "2"
    assert len(sent(a, "order_paid")) == 1  # paid (awaiting the team) is its own event
    first.refresh_from_db()
    assert first.status == Order.Status.PAID


def test_a_team_that_fails_tells_its_members_and_refunds_the_paid_one():
    store, _, (a, b) = make_store(members=2)
    subscribe_all(a, b)
    sku = team_sku(team_size=3)
    now = timezone.now()
    paid = buy_paid(buyer=a, store=store, sku=sku, team={"open": True}, now=now)
    team = Team.objects.get()
    unpaid = buy(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=now).orders[0]
    Order.objects.filter(pk=unpaid.pk).update(pay_deadline_at=now + timedelta(days=2))

    later = now + timedelta(hours=24, minutes=1)
    teams_expire_due(later)
    teams_expire_due(later)  # again: nobody told twice

    (paid_failed,) = sent(a, "team_failed")
    assert "退回" in values(paid_failed)[1]
    (unpaid_failed,) = sent(b, "team_failed")
    assert "取消" in values(unpaid_failed)[1]
    (refund,) = sent(a, "refund_made")
    assert values(refund)[:2] == [str(paid.pk), f"{paid.paid_fen // 100}.{paid.paid_fen % 100:02d}元"]
    assert sent(b, "refund_made") == []


def test_a_parcel_at_the_pickup_point_names_the_point(make_client):
    from orders.tests.test_pickup import Venue

    venue = Venue(make_client)
    subscribe_all(venue.member)
    order = venue.shipped_pickup_order()

    pickup_mark_arrived(leader=venue.leader, order_id=order.pk)
    pickup_mark_arrived(leader=venue.leader, order_id=order.pk)

    (message,) = sent(venue.member, "pickup_ready")
    assert values(message)[:2] == [str(order.pk), "阳光小区自提点"]


def test_settlement_tells_each_payee_their_rebate_and_the_members_their_envelope():
    owner = UserFactory()
    store, _, (buyer, bystander) = make_store(owner=owner, members=2)
    subscribe_all(owner, buyer, bystander)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=50)
    (order,) = make_completed_orders(buyers=[buyer], store=store, sku=sku)

    assert orders_settle(order_ids=[order.pk]) == 1
    assert orders_settle(order_ids=[order.pk]) == 0  # settled once: told once

    # 1,990 × 10 % = 199: the member's 30 % (59 fen), the owner's 60 % (119 fen)
    (member_rebate,) = sent(buyer, "rebate_settled")
    assert values(member_rebate)[0] == "0.59元"
    (owner_rebate,) = sent(owner, "rebate_settled")
    assert values(owner_rebate)[0] == "1.19元"
    assert sent(bystander, "rebate_settled") == []
    for user in (owner, buyer, bystander):  # every member who joined before it was funded
        (envelope,) = sent(user, "envelope_waiting")
        assert values(envelope)[0] == store.name
        assert envelope.page == f"pages/store/index?id={store.pk}"


def test_a_rebate_clawed_back_before_the_notice_is_not_announced(monkeypatch):
    """A refund can claw a rebate back between the batch's commit and its notice task."""
    from rebates.models import Accrual, OrderSettlement
    from rebates.services.settlement_notices import settlement_run_notify
    from rebates.tasks import settlement_run_notify_task

    owner = UserFactory()
    store, _, (buyer,) = make_store(owner=owner, members=1)
    subscribe_all(owner, buyer)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=50)
    (order,) = make_completed_orders(buyers=[buyer], store=store, sku=sku)
    monkeypatch.setattr(settlement_run_notify_task, "delay", lambda run_id: None)  # the task is late
    assert orders_settle(order_ids=[order.pk]) == 1
    Accrual.objects.filter(order=order, beneficiary=buyer).update(clawed_back_fen=F("amount_fen"))
    Accrual.objects.filter(order=order, beneficiary=owner).update(clawed_back_fen=19)

    settlement_run_notify(run_id=OrderSettlement.objects.get(order=order).run_id)

    assert sent(buyer, "rebate_settled") == []
    (owner_rebate,) = sent(owner, "rebate_settled")
    assert values(owner_rebate)[0] == "1.00元"  # 119 - 19 fen


def test_without_a_subscription_the_user_gets_the_in_app_notice_only():
    store, _, (buyer,) = make_store(members=1)
    order = buy_paid(buyer=buyer, store=store, sku=SkuFactory(price_fen=990, on_hand=5))

    assert Notification.objects.filter(recipient=buyer, kind="order_paid", data__order_id=order.pk).exists()
    assert not SubscribeMessage.objects.exists()
    assert not SandboxSubscribeSend.objects.exists()
