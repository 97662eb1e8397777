"""Conversations the assistant handed over: the merchant's list (waiting ones first to the
eye: the filter defaults to them), one conversation with its messages, and the answer form.

The same selectors and service as ``/merchant/conversations`` (``assistant.selectors``,
``assistant.services.conversation_reply``): only the merchant's own orders' conversations,
another's 404; the messages and their facts pass through the same filter as the API's
(``assistant.privacy``), so staff never see the buyer's pickup code, phone or address.
Answering is for the roles that handle orders (merchants/roles.py); reading is for every role.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from assistant.models import TEXT_MAX_CHARS, Conversation, Message
from assistant.privacy import conversation_secrets, for_merchant, text_for_merchant
from assistant.selectors import conversation_get_for_merchant, conversation_list_for_merchant
from assistant.services import conversation_reply
from merchants.roles import ORDERS, role_may
from shop.errors import ApplicationError

from ..access import console_page
from ..input import NON_FIELD, found, refusal
from ..paging import page_of

STATUSES = (Conversation.Status.HANDED_OVER, Conversation.Status.ANSWERED)


def _shown(message: Message, secrets: tuple[str, ...]) -> dict:
    """A message as merchant staff may see it."""
    return {
        "sender": message.get_sender_display(),
        "from_buyer": message.sender == Message.Sender.BUYER,
        "at": message.created_at,
        "text": text_for_merchant(message.text, message.data, secrets),
        "data": for_merchant(message.data),
    }


@console_page()
def conversation_list(request):
    status = request.GET.get("status", Conversation.Status.HANDED_OVER)
    if status not in (*STATUSES, "all"):
        status = Conversation.Status.HANDED_OVER
    conversations = conversation_list_for_merchant(
        merchant_id=request.merchant.pk, status=None if status == "all" else status
    )
    context = {"page": page_of(conversations, request), "status": status, "statuses": Conversation.Status}
    return render(request, "console/conversations/list.html", context)


def _detail(request, conversation: Conversation, *, errors=None, text: str = "", status: int = 200):
    context = {
        "conversation": conversation,
        "messages_shown": [
            _shown(m, conversation_secrets(conversation)) for m in conversation.messages.all()
        ],
        "may_answer": role_may(request.staff.role, ORDERS),
        "errors": errors or {},
        "text": text,
        "max_chars": TEXT_MAX_CHARS,
    }
    return render(request, "console/conversations/detail.html", context, status=status)


@console_page()
def conversation_detail(request, conversation_id: int):
    conversation = found(
        conversation_get_for_merchant, merchant_id=request.merchant.pk, conversation_id=conversation_id
    )
    return _detail(request, conversation)


@require_POST
@console_page()
def conversation_answer(request, conversation_id: int):
    """Answer the buyer: the service checks the role, the text (cleaned, capped) and that the
    conversation is this merchant's; the buyer is notified. A refusal shows the page again."""
    conversation = found(
        conversation_get_for_merchant, merchant_id=request.merchant.pk, conversation_id=conversation_id
    )
    text = request.POST.get("text", "")
    if not text.strip():
        return _detail(request, conversation, errors={NON_FIELD: [_("Write an answer.")]}, status=400)
    try:
        conversation_reply(
            conversation_id=conversation.pk,
            author=request.user,
            sender=Message.Sender.MERCHANT,
            text=text,
            merchant_id=request.merchant.pk,
        )
    except ApplicationError as exc:
        errors, status = refusal(exc)
        return _detail(request, conversation, errors=errors, text=text, status=status)
    messages.success(request, _("Answer sent; the buyer has been notified."))
    return redirect("console:conversation", conversation_id=conversation.pk)
