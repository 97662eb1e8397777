"""``POST /assistant/messages``: for each intent, a question about an order in each state
gets the facts of that order as the shop's own rules state them; someone else's order is
a 404; the order is the named one, else the conversation's, else the latest in play,
else the assistant asks which."""

from __future__ import annotations

import pytest
from django.utils import timezone

from assistant.models import Conversation, Message
from orders.models import AfterSale, Order
from orders.services.after_sales import CaseItem, after_sale_open
from rebates.services.settlement import orders_settle
from rebates.services.withdrawals import withdrawal_create
from rebates.tests.helpers import fund_wallet
from shop.testing.asserts import assert_error

from .helpers import ASK, Shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return Shop()


def ask(client, text, **extra):
    response = client.post(ASK, {"text": text, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- order status and delivery ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("pending_payment", "还未付款"),
        ("paid", "还没有发货"),
        ("shipped", "运单号"),
        ("received", "签收"),
        ("completed", "已完成"),
        ("cancelled", "已取消"),
        ("refunded", "已全额退款"),
    ],
)
def test_order_status_in_each_state(make_client, shop, status, says):
    order = shop.order(status)
    turn = ask(make_client(shop.buyer), "我的快递到哪了", order_id=order.pk)
    assert turn["intent"] == "order_status"
    assert turn["data"]["order_id"] == order.pk
    assert turn["data"]["status"] == status
    assert says in turn["reply"]
    if status in ("shipped", "received"):
        assert turn["data"]["carrier"] == "顺丰" == order.carrier
        assert turn["data"]["tracking_no"] == order.tracking_no
        assert order.tracking_no in turn["reply"]
    assert turn["handed_over"] is False


def test_a_team_order_waiting_for_its_team(make_client, shop):
    order = shop.team_order()
    assert order.status == Order.Status.AWAITING_TEAM
    turn = ask(make_client(shop.buyer), "什么时候发货", order_id=order.pk)
    assert turn["data"]["team"]["paid_count"] == 1
    assert turn["data"]["team"]["size"] == 3
    assert "等待拼团成功" in turn["reply"]


# --- refunds: the after-sales rule's verdict, amount and deadline ------------------------


@pytest.mark.parametrize(
    ("status", "can", "refundable", "reason"),
    [
        ("pending_payment", False, 0, "wrong_status"),
        ("paid", True, 1_990, "ok"),
        ("shipped", True, 1_990, "ok"),
        ("received", True, 1_990, "ok"),
        ("completed", False, 0, "wrong_status"),
        ("cancelled", False, 0, "wrong_status"),
        ("refunded", False, 0, "wrong_status"),
    ],
)
def test_refund_in_each_state(make_client, shop, status, can, refundable, reason):
    order = shop.order(status)
    turn = ask(make_client(shop.buyer), "能退款吗，能退多少", order_id=order.pk)
    assert turn["intent"] == "refund"
    data = turn["data"]
    assert (data["can_request"], data["refundable_fen"], data["reason"]) == (can, refundable, reason)
    assert data["refundable_fen"] <= order.paid_fen - order.refunded_fen
    if can:
        assert "¥19.90" in turn["reply"]
    if status == "received":
        assert data["deadline_at"] == order.after_sales_closes_at.isoformat()
    else:
        assert data["deadline_at"] is None


def test_the_amount_told_is_what_a_case_may_ask_and_not_a_fen_more(make_client, shop):
    """The assistant's figure is the after-sales service's own limit."""
    order = shop.order("received")
    turn = ask(make_client(shop.buyer), "退多少", order_id=order.pk)
    item = order.items.get()
    too_much = turn["data"]["refundable_fen"] + 1
    from orders.errors import InvalidRefund

    with pytest.raises(InvalidRefund):
        after_sale_open(
            order_id=order.pk,
            buyer=shop.buyer,
            kind=AfterSale.Kind.REFUND,
            items=[CaseItem(order_item_id=item.pk, qty=1)],
            amount_fen=too_much,
            reason="test",
        )
    case = after_sale_open(
        order_id=order.pk,
        buyer=shop.buyer,
        kind=AfterSale.Kind.REFUND,
        items=[CaseItem(order_item_id=item.pk, qty=1)],
        amount_fen=turn["data"]["refundable_fen"],
        reason="test",
    )
    again = ask(make_client(shop.buyer), "能退款吗", order_id=order.pk)
    assert again["data"]["reason"] == "case_open"
    assert again["data"]["after_sale"] == {"id": case.pk, "status": "requested", "amount_fen": 1_990}
    assert again["data"]["can_request"] is False


def test_refund_while_waiting_for_the_team(make_client, shop):
    order = shop.team_order()
    turn = ask(make_client(shop.buyer), "能退款吗", order_id=order.pk)
    assert turn["data"]["can_request"] is False
    assert "拼团失败" in turn["reply"]


# --- team --------------------------------------------------------------------------------


def test_team_open_then_not_a_team_order(make_client, shop):
    order = shop.team_order()
    turn = ask(make_client(shop.buyer), "拼团成功了吗", order_id=order.pk)
    assert turn["intent"] == "team"
    team = order.team_member.team
    assert turn["data"]["team"] == {
        "team_id": team.pk,
        "team_status": "open",
        "paid_count": 1,
        "members_count": 1,
        "size": 3,
        "expires_at": team.expires_at.isoformat(),
    }
    assert "还差2人" in turn["reply"]

    plain = shop.order("paid")
    turn = ask(make_client(shop.buyer), "拼团成功了吗", order_id=plain.pk)
    assert "不是拼团订单" in turn["reply"]
    assert "team" not in turn["data"]


def test_team_succeeded_when_everyone_paid(make_client, shop):
    from orders.tests.helpers import buy_paid

    order = shop.team_order()
    team = order.team_member.team
    for other in (shop.stranger, shop.third):
        buy_paid(buyer=other, store=shop.store, sku=team.sku, team={"join": team.pk})
    turn = ask(make_client(shop.buyer), "成团了没", order_id=order.pk)
    assert turn["data"]["team"]["team_status"] == "succeeded"
    assert "已经成功" in turn["reply"]


def test_team_failed_and_the_money_back(make_client, shop):
    from datetime import timedelta

    from orders.services.sweepers import teams_expire_due

    order = shop.team_order()
    teams_expire_due(order.team_member.team.expires_at + timedelta(seconds=1))
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    client = make_client(shop.buyer)
    turn = ask(client, "拼团成功了吗", order_id=order.pk)
    assert turn["data"]["team"]["team_status"] == "failed"
    assert "全额原路退回" in turn["reply"]
    refund = ask(client, "能退款吗", order_id=order.pk)
    assert refund["data"]["can_request"] is False
    assert refund["data"]["refunded_fen"] == order.paid_fen
    assert "已全额退款" in refund["reply"]


# --- rebates -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["paid", "shipped", "received"])
def test_a_pending_rebate_says_when_it_settles(make_client, shop, status):
    order = shop.order(status)
    turn = ask(make_client(shop.buyer), "返利什么时候到账", order_id=order.pk)
    assert turn["intent"] == "rebate"
    accruals = order.accruals.filter(beneficiary=shop.buyer)
    assert accruals.exists()
    assert turn["data"]["rebate_fen"] == sum(a.amount_fen for a in accruals) > 0
    assert turn["data"]["is_settled"] is False
    if status == "received":
        assert turn["data"]["settles_after"] == order.after_sales_closes_at.isoformat()
    else:
        assert "确认收货后" in turn["reply"]


def test_a_settled_rebate_says_when_it_came(make_client, shop):
    order = shop.order("completed")
    assert orders_settle(order_ids=[order.pk]) >= 1
    turn = ask(make_client(shop.buyer), "返利到了吗", order_id=order.pk)
    assert turn["data"]["is_settled"] is True
    assert "已于" in turn["reply"]


def test_a_refunded_order_has_no_rebate_left(make_client, shop):
    order = shop.order("refunded")
    turn = ask(make_client(shop.buyer), "返利有多少", order_id=order.pk)
    assert turn["data"]["rebate_fen"] == 0
    assert "没有给你的返利" in turn["reply"]


# --- withdrawals ---------------------------------------------------------------------------


def test_withdrawal_none_then_processing(make_client, shop):
    client = make_client(shop.buyer)
    turn = ask(client, "提现怎么还没到")
    assert turn["intent"] == "withdrawal"
    assert "还没有提现记录" in turn["reply"]
    fund_wallet(shop.buyer, 5_000)
    withdrawal = withdrawal_create(user=shop.buyer, amount_fen=3_000, now=timezone.now())
    withdrawal.refresh_from_db()
    turn = ask(client, "提现怎么还没到")
    assert turn["data"]["withdrawal"]["id"] == withdrawal.pk
    assert turn["data"]["withdrawal"]["amount_fen"] == 3_000
    assert turn["data"]["withdrawal"]["status"] == withdrawal.status
    assert turn["data"]["available_fen"] == 2_000
    assert "¥30.00" in turn["reply"]


# --- which order ---------------------------------------------------------------------------


def test_an_order_number_in_the_text_picks_it(make_client, shop):
    first, second = shop.order("shipped"), shop.order("shipped")
    turn = ask(make_client(shop.buyer), f"订单{first.pk}到哪了")
    assert turn["data"]["order_id"] == first.pk
    assert second.pk != first.pk


def test_several_orders_in_play_and_none_named_asks_which(make_client, shop):
    first, second = shop.order("paid"), shop.order("shipped")
    turn = ask(make_client(shop.buyer), "我的快递到哪了")
    assert turn["intent"] == "order_status"
    assert [c["order_id"] for c in turn["data"]["choices"]] == [second.pk, first.pk]
    assert "哪一个" in turn["reply"]
    conversation = Conversation.objects.get(pk=turn["conversation_id"])
    assert conversation.order_id is None
    assert conversation.failed_turns == 0

    answered = ask(make_client(shop.buyer), f"订单{first.pk}", conversation_id=conversation.pk)
    assert answered["conversation_id"] == conversation.pk  # the ask-back's conversation takes it
    assert answered["intent"] == "order_status"  # the question asked before, now answered
    assert answered["data"]["order_id"] == first.pk
    assert answered["data"]["status"] == "paid"
    assert Conversation.objects.get(pk=conversation.pk).order_id == first.pk


def test_a_rebate_ask_back_is_answered_too(make_client, shop):
    first, second = shop.order("paid"), shop.order("shipped")
    turn = ask(make_client(shop.buyer), "返利什么时候到账")
    assert {c["order_id"] for c in turn["data"]["choices"]} == {first.pk, second.pk}
    answered = ask(make_client(shop.buyer), f"#{second.pk}", conversation_id=turn["conversation_id"])
    assert answered["intent"] == "rebate"
    assert answered["data"]["order_id"] == second.pk
    assert answered["data"]["rebate_fen"] > 0


def test_one_order_in_play_is_taken_without_asking(make_client, shop):
    shop.order("completed")
    shipped = shop.order("shipped")
    turn = ask(make_client(shop.buyer), "快递到哪了")
    assert turn["data"]["order_id"] == shipped.pk


def test_the_product_named_picks_among_orders_in_play(make_client, shop):
    from products.tests.factories import SkuFactory

    other_sku = SkuFactory(
        product__merchant=shop.merchant, product__title="洗衣液2kg", price_fen=2_990, on_hand=9
    )
    tissue, detergent = shop.order("paid"), shop.order("paid", sku=other_sku)
    turn = ask(make_client(shop.buyer), "我买的洗衣液什么时候发货")
    assert turn["data"]["order_id"] == detergent.pk
    assert tissue.pk != detergent.pk


def test_no_order_in_play_answers_about_the_latest(make_client, shop):
    done = shop.order("completed")
    turn = ask(make_client(shop.buyer), "快递到哪了")
    assert turn["data"]["order_id"] == done.pk
    assert "已完成" in turn["reply"]


def test_no_order_at_all(make_client, shop):
    turn = ask(make_client(shop.stranger), "快递到哪了")
    assert turn["data"] == {"order_id": None}
    assert "还没有订单" in turn["reply"]


# --- someone else's ------------------------------------------------------------------------


def test_another_buyers_order_is_a_404_and_nothing_is_written(make_client, shop):
    theirs = shop.order("shipped", buyer=shop.stranger)
    client = make_client(shop.buyer)
    assert_error(client.post(ASK, {"text": "到哪了", "order_id": theirs.pk}, format="json"), 404, "not_found")
    assert_error(client.post(ASK, {"text": f"订单{theirs.pk}到哪了"}, format="json"), 404, "not_found")
    assert_error(client.post(ASK, {"text": "到哪了", "order_id": 10**12}, format="json"), 404, "not_found")
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0


def test_another_buyers_conversation_is_a_404(make_client, shop):
    shop.order("paid")
    turn = ask(make_client(shop.buyer), "发货了吗")
    other = make_client(shop.stranger)
    assert_error(other.get(f"/api/v1/assistant/conversations/{turn['conversation_id']}"), 404, "not_found")
    response = other.post(
        ASK, {"text": "发货了吗", "conversation_id": turn["conversation_id"]}, format="json"
    )
    assert_error(response, 404, "not_found")
    assert Message.objects.filter(conversation_id=turn["conversation_id"]).count() == 2


# --- input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": "退" * 501},
        {"text": 123},
        {"text": ["转人工"]},
        {"text": "到哪了\x00"},
        {"text": "到哪了", "order_id": "abc"},
        {"text": "到哪了", "order_id": 0},
        {"text": "到哪了", "conversation_id": -1},
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(make_client, shop, body):
    response = make_client(shop.buyer).post(ASK, body, format="json")
    assert_error(response, 400, "validation_error")
    assert Conversation.objects.count() == 0


def test_no_token_is_a_401(api_client):
    assert api_client.post(ASK, {"text": "到哪了"}, format="json").status_code == 401


def test_the_assistant_is_rate_limited(make_client, settings):
    """A low rate, and user ids no other test run in this Redis uses (throttle keys are per
    user id in the Redis every run shares: never clear the whole cache)."""
    import random

    from django.core.cache import cache

    from accounts.tests.factories import UserFactory

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "assistant_message": "3/minute",
        },
    }
    user, other = (UserFactory(pk=random.randint(10**12, 10**13)) for _ in range(2))
    try:
        client = make_client(user)
        codes = [client.post(ASK, {"text": "你好"}, format="json").status_code for _ in range(4)]
        other_code = make_client(other).post(ASK, {"text": "你好"}, format="json").status_code
    finally:
        for who in (user, other):
            cache.delete(f"throttle_assistant_message_{who.pk}")
    assert codes == [200, 200, 200, 429]
    assert other_code == 200


def test_a_turn_about_a_named_order_is_a_handful_of_statements(shop, django_assert_max_num_queries):
    """The bench's answer time is mostly SQL: keep a turn's statements few (the order and
    its items and cases, then one INSERT of the conversation and one of both messages)."""
    from assistant.intents import phrase_table
    from assistant.services import assistant_message_post

    order = shop.order("shipped")
    phrase_table()  # loaded once per process, not per turn
    with django_assert_max_num_queries(8):
        turn = assistant_message_post(asker=shop.buyer, text="我的快递到哪了", order_id=order.pk)
    assert turn.data["tracking_no"] == order.tracking_no


def test_a_rebate_question_with_nothing_pending_answers_from_the_wallet(make_client, shop):
    order = shop.order("completed")
    assert orders_settle(order_ids=[order.pk]) >= 1
    shop.order("cancelled")  # the latest order, but no rebate of it
    turn = ask(make_client(shop.buyer), "返利什么时候到账")
    assert "order_id" not in turn["data"]
    assert turn["data"]["pending_fen"] == 0
    assert turn["data"]["available_fen"] > 0  # the settled rebate
