"""The console's conversations page: what the assistant handed over to this merchant, read and
answered through the same selectors and service as ``/merchant/conversations``."""

from __future__ import annotations

import pytest
from django.test import Client

from assistant.models import Conversation, Message
from assistant.services import assistant_message_post, conversation_reply
from assistant.tests.helpers import Shop
from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Pickup
from orders.tests.test_pickup import Venue
from shop.notifications.models import Notification

from .helpers import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_over():
    """A shipped order's buyer asked for a person: the conversation waits for the merchant."""
    shop = Shop()
    order = shop.order("shipped")
    turn = assistant_message_post(asker=shop.buyer, text="我的快递到哪了", order_id=order.pk)
    assistant_message_post(asker=shop.buyer, text="转人工", conversation_id=turn.conversation.pk)
    conversation = Conversation.objects.get(pk=turn.conversation.pk)
    assert conversation.status == Conversation.Status.HANDED_OVER
    return shop, order, conversation


def test_staff_see_waiting_conversations_and_answer_and_the_buyer_is_told(client, handed_over):
    shop, order, conversation = handed_over
    console_login(client, shop.staff.user)

    listed = client.get("/console/conversations").content.decode()
    assert f'href="/console/conversations/{conversation.pk}"' in listed

    page = client.get(f"/console/conversations/{conversation.pk}").content.decode()
    assert "转人工" in page
    assert order.tracking_no in page

    answered = client.post(
        f"/console/conversations/{conversation.pk}/answer", {"text": "已催促快递，明天到。"}
    )
    assert answered.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ANSWERED
    assert conversation.messages.filter(sender=Message.Sender.MERCHANT, text="已催促快递，明天到。").exists()
    assert Notification.objects.filter(recipient=shop.buyer, kind="conversation_answered").count() == 1
    # Answered ones leave the default (waiting) list.
    assert (
        f"/console/conversations/{conversation.pk}"
        not in client.get("/console/conversations").content.decode()
    )


def test_the_buyers_phone_and_address_never_reach_the_page(client, handed_over):
    shop, order, conversation = handed_over
    Message.objects.create(
        conversation=conversation, sender=Message.Sender.BUYER, text="打我电话 13912345678", data={}
    )
    console_login(client, shop.staff.user)

    page = client.get(f"/console/conversations/{conversation.pk}").content.decode()

    assert "13912345678" not in page
    assert shop.buyer.phone not in page


def test_another_merchants_staff_get_404_and_cannot_answer(client, handed_over):
    _, _, conversation = handed_over
    console_login(client, MerchantStaffFactory().user)

    assert client.get(f"/console/conversations/{conversation.pk}").status_code == 404
    assert client.post(f"/console/conversations/{conversation.pk}/answer", {"text": "hi"}).status_code == 404
    assert not conversation.messages.filter(sender=Message.Sender.MERCHANT).exists()


def test_finance_staff_read_but_may_not_answer(client, handed_over):
    shop, _, conversation = handed_over
    finance = MerchantStaffFactory(merchant=shop.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, finance.user)

    assert client.get(f"/console/conversations/{conversation.pk}").status_code == 200
    refused = client.post(f"/console/conversations/{conversation.pk}/answer", {"text": "hi"})

    assert refused.status_code == 403
    assert not conversation.messages.filter(sender=Message.Sender.MERCHANT).exists()


def test_an_empty_answer_is_shown_again_with_nothing_written(client, handed_over):
    shop, _, conversation = handed_over
    console_login(client, shop.staff.user)

    response = client.post(f"/console/conversations/{conversation.pk}/answer", {"text": "   "})

    assert response.status_code == 400
    assert not conversation.messages.filter(sender=Message.Sender.MERCHANT).exists()


def test_the_home_page_lists_the_conversations_waiting(client, handed_over):
    shop, _, conversation = handed_over
    console_login(client, shop.staff.user)
    client.cookies["console_lang"] = "en"

    page = client.get("/console/").content.decode()

    assert f'href="/console/conversations/{conversation.pk}"' in page
    conversation_reply(
        conversation_id=conversation.pk,
        author=shop.staff.user,
        sender=Message.Sender.MERCHANT,
        text="好的",
        merchant_id=shop.merchant.pk,
    )
    page = client.get("/console/").content.decode()
    assert f'href="/console/conversations/{conversation.pk}"' not in page
    assert "No buyer is waiting for an answer." in page


def test_a_pickup_code_the_buyer_typed_is_masked_for_the_merchant_api_and_console(make_client, shop):
    venue = Venue(make_client)
    order = venue.shipped_pickup_order()
    code = Pickup.objects.get(order=order).code
    buyer = make_client(venue.member)
    turn = buyer.post(
        "/api/v1/assistant/messages",
        {"text": f"转人工，我的取件码{code}不对", "order_id": order.pk},
        format="json",
    ).json()
    staff = MerchantStaffFactory(merchant=order.merchant)

    listed = make_client(staff.user).get("/api/v1/merchant/conversations")
    page = Client()
    page.cookies["console_lang"] = "en"
    console_login(page, staff.user)
    shown = page.get(f"/console/conversations/{turn['conversation_id']}")

    assert listed.status_code == shown.status_code == 200
    assert code not in listed.content.decode()
    assert "我的取件码***不对" in listed.content.decode()
    assert code not in shown.content.decode()
    own = buyer.get(f"/api/v1/assistant/conversations/{turn['conversation_id']}").content.decode()
    assert code in own  # the buyer's own conversation is shown as written
