"""WeChat subscribe messages end to end (issue 15, step 3): over real HTTP (live server), with
every task — the sends, settlement and its notices, refunds — run by a real Celery worker
process through Redis, on PostgreSQL. Each event the design names (paid, shipped, parcel at
the pickup point, team succeeded / failed, refund made, rebate settled, envelope waiting)
leaves exactly one message per person in the sandbox's record, and running every task again
(twice) sends nothing more."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from demo.seed import seed_catalog
from groupstore.services import venue_selection_set
from groupstore.tests.factories import make_leader
from orders.models import Team
from products.models import Sku
from rebates.models import SettlementRun
from rebates.tasks import settlement_run_notify_task
from shop.notifications.models import SandboxSubscribeSend, SubscribeMessage
from shop.notifications.tasks import subscribe_message_send_task
from shop.queues import all_queues

from .conftest import wait_for
from .test_purchase_path_e2e import ADDRESS, Api

pytestmark = [pytest.mark.e2e]

TEMPLATES = {kind: t["template_id"] for kind, t in settings.WECHAT_SUBSCRIBE_TEMPLATES.items()}
POINT = {
    "name": "阳光小区自提点",
    "region": "上海市 浦东新区",
    "address": "阳光小区 3 号楼便利店",
    "opening_hours": "每天 9:00-21:00",
    "contact_name": "王团长",
    "contact_phone": "13900139000",
}


def _sent() -> Counter:
    """(openid, event) → how many messages the sandbox recorded."""
    kinds = {template_id: kind for kind, template_id in TEMPLATES.items()}
    return Counter((s.touser, kinds[s.template_id]) for s in SandboxSubscribeSend.objects.all())


def _queues_drained() -> bool:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return all(broker.llen(queue) == 0 for queue in all_queues(settings.CELERY_TASK_DEFAULT_QUEUE))


def _pay(api: Api, checkout: dict) -> int:
    assert api.post(f"/sandbox/payments/{checkout['payment']['id']}/pay")["status"] == "succeeded"
    return checkout["orders"][0]["id"]


def test_one_subscribe_message_per_event_even_when_every_task_runs_again(live_server, real_celery):
    seed_catalog(lambda _: None)
    sku = Sku.objects.get(code="VD-100-12")  # ¥26.90, teams of 2 at ¥21.90
    base = live_server.url
    owner, member, t1, t2, t3, leader, picker = (
        Api(base, f"sandbox:e2e-sub-{name}")
        for name in ("owner", "member", "t1", "t2", "t3", "leader", "picker")
    )
    merchant = Api(base, "sandbox:demo-merchant")
    openid = {api: User.objects.get(pk=api.user["id"]).openid for api in (owner, member, t1, t2, t3, picker)}

    # Everyone allowed every template once in wx.requestSubscribeMessage, and said so
    for api in (owner, member, t1, t2, t3, leader, picker):
        answer = api.post("/me/subscriptions", {"results": {t: "accept" for t in TEMPLATES.values()}})
        assert set(answer["counts"].values()) == {1}

    store = owner.post("/stores", {"name": "订阅消息团购群"}, expect=201)
    for api in (member, t1, t2, t3):
        api.post("/stores/join", {"share_token": store["share_token"]})
    basket = {"store_id": store["id"], "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS}

    # A team of two succeeds; another team's only member pays and waits
    opened = t1.post("/orders", {**basket, "team": {"open": True}}, expect=201)
    _pay(t1, opened)
    team_id = opened["orders"][0]["team"]["id"]
    _pay(t2, t2.post("/orders", {**basket, "team": {"join": team_id}}, expect=201))
    _pay(t3, t3.post("/orders", {**basket, "team": {"open": True}}, expect=201))
    assert Team.objects.get(pk=team_id).status == "succeeded"

    # A member's order: paid, shipped, received; a week later completed and settled by the worker
    order_id = _pay(
        member, member.post("/orders", {**basket, "items": [{"sku_id": sku.pk, "qty": 2}]}, expect=201)
    )
    merchant.post(f"/merchant/orders/{order_id}/ship", {"carrier": "顺丰", "tracking_no": "SF100200300"})
    member.post(f"/orders/{order_id}/confirm-receipt")
    week_later = (timezone.now() + timedelta(days=7, minutes=1)).isoformat()
    call_command("run_sweepers", now=week_later)  # completes the order, fails t3's team (refunded)

    # A leader's venue: the picker's parcel reaches the pickup point
    leader_user = User.objects.get(pk=leader.user["id"])
    make_leader(user=leader_user)
    venue = leader.post("/stores", {"name": "阳光小区团购"}, expect=201)
    picker.post("/stores/join", {"share_token": venue["share_token"]})
    venue_selection_set(store_id=venue["id"], user=leader_user, product_ids=[sku.product_id])
    point = leader.session.put(f"{leader.base}/leaders/me/pickup-point", json=POINT, timeout=10)
    assert point.status_code == 201, point.text
    pickup_checkout = picker.post(
        "/orders",
        {
            "store_id": venue["id"],
            "items": [{"sku_id": sku.pk, "qty": 1}],
            "delivery": {"type": "pickup", "pickup_point_id": point.json()["id"]},
        },
        expect=201,
    )
    pickup_order = _pay(picker, pickup_checkout)
    merchant.post(f"/merchant/orders/{pickup_order}/ship", {"carrier": "顺丰", "tracking_no": "SF900"})
    leader.post(f"/leaders/me/orders/{pickup_order}/arrived")

    expected = Counter(
        {
            (openid[member], "order_paid"): 1,
            (openid[member], "order_shipped"): 1,
            (openid[member], "rebate_settled"): 1,
            (openid[owner], "rebate_settled"): 1,
            (openid[t1], "order_paid"): 1,
            (openid[t2], "order_paid"): 1,
            (openid[t1], "team_succeeded"): 1,
            (openid[t2], "team_succeeded"): 1,
            (openid[t3], "order_paid"): 1,
            (openid[t3], "team_failed"): 1,
            (openid[t3], "refund_made"): 1,
            (openid[picker], "order_paid"): 1,
            (openid[picker], "order_shipped"): 1,
            (openid[picker], "pickup_ready"): 1,
            # every member who joined before the settled order funded the store's envelope
            **{(openid[api], "envelope_waiting"): 1 for api in (owner, member, t1, t2, t3)},
        }
    )
    wait_for(lambda: _sent() == expected, timeout=60, what=f"the subscribe messages {expected - _sent()}")

    # Every task again, twice, through the worker; the sweepers again: nothing is sent twice
    for message_id in SubscribeMessage.objects.values_list("pk", flat=True):
        subscribe_message_send_task.delay(message_id)
        subscribe_message_send_task.delay(message_id)
    for run_id in SettlementRun.objects.values_list("pk", flat=True):
        settlement_run_notify_task.delay(run_id)
        settlement_run_notify_task.delay(run_id)
    call_command("run_sweepers", now=week_later)
    wait_for(_queues_drained, timeout=60, what="the worker to take every message")
    wait_for(
        lambda: not SubscribeMessage.objects.exclude(status="sent").exists(),
        timeout=30,
        what="every message sent",
    )
    time.sleep(3)  # the last tasks taken may still be running
    assert _sent() == expected
    assert SubscribeMessage.objects.filter(status="sent").count() == sum(expected.values())
    answer = member.get("/me/subscriptions")["counts"]
    assert answer[TEMPLATES["order_paid"]] == 0  # spent
    assert answer[TEMPLATES["team_failed"]] == 1  # never used
