"""Handover: 转人工, or two turns the assistant could not answer, hands the conversation to
the order's merchant (staff see it in ``GET /merchant/conversations``, without the buyer's
pickup code, phone or address, and answer it; the buyer is notified and reads the answer
in the conversation) or, with no order, to ops. A conversation is about one order."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message
from assistant.services import conversation_reply
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Pickup
from orders.services.pickups import pickup_mark_arrived
from orders.tests.test_pickup import Venue
from shop.notifications.models import Notification
from shop.testing.asserts import assert_error

from .helpers import ASK, Shop

pytestmark = pytest.mark.django_db
LIST = "/api/v1/merchant/conversations"


@pytest.fixture
def shop():
    return Shop()


def ask(client, text, **extra):
    response = client.post(ASK, {"text": text, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_handover_reaches_the_merchant_and_the_answer_reaches_the_buyer(make_client, shop):
    order = shop.order("shipped")
    buyer, staff = make_client(shop.buyer), make_client(shop.staff.user)
    first = ask(buyer, "快递到哪了", order_id=order.pk)
    assert first["handed_over"] is False
    assert staff.get(LIST).json()["results"] == []  # not handed over: staff see nothing yet

    turn = ask(buyer, "转人工", conversation_id=first["conversation_id"])
    assert turn["intent"] == "handover"
    assert turn["handed_over"] is True
    assert turn["conversation_id"] == first["conversation_id"]
    conversation = Conversation.objects.get(pk=turn["conversation_id"])
    assert conversation.merchant_id == shop.merchant.pk
    assert conversation.status == "handed_over"
    assert (
        Notification.objects.filter(recipient=shop.staff.user, kind="conversation_handed_over").count() == 1
    )

    listed = staff.get(LIST).json()
    assert listed["count"] == 1
    (row,) = listed["results"]
    assert row["id"] == conversation.pk
    assert row["order_id"] == order.pk
    assert [m["sender"] for m in row["messages"]] == ["buyer", "assistant", "buyer", "assistant"]
    assert row["messages"][1]["data"]["tracking_no"] == order.tracking_no

    answer = staff.post(f"{LIST}/{conversation.pk}/messages", {"text": "亲，明天就到"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["sender"] == "merchant"
    note = Notification.objects.get(recipient=shop.buyer, kind="conversation_answered")
    assert note.data == {"conversation_id": conversation.pk, "order_id": order.pk}

    seen = buyer.get(f"/api/v1/assistant/conversations/{conversation.pk}").json()
    assert seen["status"] == "answered"
    assert seen["messages"][-1]["sender"] == "merchant"
    assert seen["messages"][-1]["text"] == "亲，明天就到"
    assert staff.get(LIST, {"status": "handed_over"}).json()["count"] == 0


def test_two_turns_unanswered_hand_over(make_client, shop):
    order = shop.order("paid")
    buyer = make_client(shop.buyer)
    first = ask(buyer, "这个尺码偏大吗", order_id=order.pk)
    assert first["intent"] == "unknown"
    assert first["handed_over"] is False
    second = ask(buyer, "有没有红色的", conversation_id=first["conversation_id"])
    assert second["handed_over"] is True
    assert "转人工" in second["reply"]
    assert Conversation.objects.get(pk=first["conversation_id"]).merchant_id == shop.merchant.pk


def test_an_answered_turn_in_between_restarts_the_count(make_client, shop):
    order = shop.order("paid")
    buyer = make_client(shop.buyer)
    first = ask(buyer, "你好", order_id=order.pk)
    ask(buyer, "发货了吗", conversation_id=first["conversation_id"])
    third = ask(buyer, "谢谢", conversation_id=first["conversation_id"])
    assert third["handed_over"] is False


def test_asking_about_another_order_starts_another_conversation(make_client, shop):
    one, two = shop.order("paid"), shop.order("shipped")
    buyer = make_client(shop.buyer)
    first = ask(buyer, "发货了吗", order_id=one.pk)
    second = ask(buyer, f"订单{two.pk}到哪了", conversation_id=first["conversation_id"])
    assert second["conversation_id"] != first["conversation_id"]
    ask(buyer, "转人工", conversation_id=second["conversation_id"])
    (row,) = make_client(shop.staff.user).get(LIST).json()["results"]
    assert row["order_id"] == two.pk
    assert all(m["data"].get("order_id") in (None, two.pk) for m in row["messages"])


def test_a_withdrawal_question_is_never_in_an_order_conversation(make_client, shop):
    order = shop.order("paid")
    buyer = make_client(shop.buyer)
    first = ask(buyer, "发货了吗", order_id=order.pk)
    money = ask(buyer, "提现怎么还没到", conversation_id=first["conversation_id"])
    assert money["conversation_id"] != first["conversation_id"]
    assert Conversation.objects.get(pk=money["conversation_id"]).order_id is None


def test_staff_of_another_merchant_get_404_and_see_nothing(make_client, shop):
    order = shop.order("paid")
    turn = ask(make_client(shop.buyer), "转人工", order_id=order.pk)
    other = make_client(MerchantStaffFactory().user)
    assert other.get(LIST).json()["count"] == 0
    response = other.post(f"{LIST}/{turn['conversation_id']}/messages", {"text": "hi"}, format="json")
    assert_error(response, 404, "not_found")
    assert not Message.objects.filter(sender="merchant").exists()


def test_a_buyer_is_not_merchant_staff(make_client, shop):
    assert_error(make_client(shop.buyer).get(LIST), 403)


def test_staff_cannot_answer_a_conversation_not_handed_over(make_client, shop):
    order = shop.order("paid")
    turn = ask(make_client(shop.buyer), "发货了吗", order_id=order.pk)
    response = make_client(shop.staff.user).post(
        f"{LIST}/{turn['conversation_id']}/messages", {"text": "在的"}, format="json"
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("text", ["", " ", "x" * 501, "\x07"])
def test_staff_answers_are_text_and_capped(make_client, shop, text):
    order = shop.order("paid")
    turn = ask(make_client(shop.buyer), "转人工", order_id=order.pk)
    response = make_client(shop.staff.user).post(
        f"{LIST}/{turn['conversation_id']}/messages", {"text": text}, format="json"
    )
    assert_error(response, 400, "validation_error")
    assert not Message.objects.filter(sender="merchant").exists()


def test_no_order_goes_to_ops_who_answer_it(make_client, shop, admin_user):
    buyer = make_client(shop.stranger)  # no orders at all
    turn = ask(buyer, "转人工")
    conversation = Conversation.objects.get(pk=turn["conversation_id"])
    assert conversation.order_id is None
    assert conversation.merchant_id is None
    assert make_client(shop.staff.user).get(LIST).json()["count"] == 0
    conversation_reply(
        conversation_id=conversation.pk, author=admin_user, sender="ops", text="您好，我来处理"
    )
    seen = buyer.get(f"/api/v1/assistant/conversations/{conversation.pk}").json()
    assert seen["messages"][-1] == {**seen["messages"][-1], "sender": "ops", "text": "您好，我来处理"}
    assert Notification.objects.filter(recipient=shop.stranger, kind="conversation_answered").count() == 1


def test_ops_do_not_answer_conversations_about_an_order(shop, admin_user, make_client):
    order = shop.order("paid")
    turn = ask(make_client(shop.buyer), "转人工", order_id=order.pk)
    from assistant.errors import ConversationNotFound

    with pytest.raises(ConversationNotFound):
        conversation_reply(
            conversation_id=turn["conversation_id"], author=admin_user, sender="ops", text="hi"
        )


def test_ops_answer_from_admin(make_client, shop, admin_client):
    turn = ask(make_client(shop.stranger), "转人工")
    url = f"/admin/assistant/conversation/{turn['conversation_id']}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"ops_reply": "已处理", **_inline_management()})
    assert response.status_code == 302, response.content[:2000]
    assert Message.objects.filter(
        conversation_id=turn["conversation_id"], sender="ops", text="已处理"
    ).exists()


def _inline_management() -> dict:
    return {
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
        "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "1000",
    }


def test_merchant_never_sees_the_pickup_code_phone_or_address(make_client, shop):
    venue = Venue(make_client)
    order = venue.shipped_pickup_order()
    pickup_mark_arrived(leader=venue.leader, order_id=order.pk)
    code = Pickup.objects.get(order=order).code
    buyer = make_client(venue.member)
    turn = ask(buyer, "取件码是多少", order_id=order.pk)
    assert turn["data"]["pickup_code"] == code  # the buyer's own: shown to the buyer
    assert code in turn["reply"]
    assert "address" in turn["data"]["pickup_point"]
    ask(buyer, "转人工", conversation_id=turn["conversation_id"])

    staff = MerchantStaffFactory(merchant=order.merchant)
    body = make_client(staff.user).get(LIST).content.decode()
    assert code not in body
    assert "pickup_code" not in body
    assert '"address"' not in body
    assert "13800138000" not in body  # the buyer's phone, on the order's address
    assert "13900139000" not in body  # the point's contact phone


def test_a_phone_number_the_buyer_typed_is_masked_for_the_merchant(make_client, shop):
    order = shop.order("paid")
    buyer = make_client(shop.buyer)
    turn = ask(buyer, "转人工，我电话13912345678", order_id=order.pk)
    body = make_client(shop.staff.user).get(LIST).content.decode()
    assert "13912345678" not in body
    own = buyer.get(f"/api/v1/assistant/conversations/{turn['conversation_id']}").content.decode()
    assert "13912345678" in own  # the buyer's own conversation is shown as written


def test_conversations_are_in_the_export_and_go_with_an_erased_account(make_client, shop):
    from accounts.privacy import user_data_export, user_erase

    turn = ask(make_client(shop.stranger), "转人工，我电话13912345678")
    exported = user_data_export(user=shop.stranger)["conversations"]
    assert [c["id"] for c in exported] == [turn["conversation_id"]]
    assert exported[0]["messages"][0]["text"] == "转人工，我电话13912345678"
    user_erase(user_id=shop.stranger.pk)
    assert not Conversation.objects.filter(asker=shop.stranger).exists()
    assert not Message.objects.filter(text__contains="13912345678").exists()


def test_the_merchant_list_reads_a_page_in_a_fixed_number_of_queries(
    make_client, shop, django_assert_max_num_queries
):
    """No query per conversation or per message (the page is prefetched)."""
    for _ in range(4):
        order = shop.order("paid")
        turn = ask(make_client(shop.buyer), "发货了吗", order_id=order.pk)
        ask(make_client(shop.buyer), "转人工", conversation_id=turn["conversation_id"])
    staff = make_client(shop.staff.user)
    with django_assert_max_num_queries(8):  # auth, staff, count, page, messages (+ session noise)
        listed = staff.get(LIST).json()
    assert listed["count"] == 4
    assert all(len(row["messages"]) == 4 for row in listed["results"])
