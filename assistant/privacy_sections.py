"""Customer service's part of a person's data (``accounts/privacy.py``): their
conversations with every message, exported; deleted when the account is erased (no law
asks us to keep a chat, and the assistant's replies quote pickup codes and addresses)."""

from __future__ import annotations

from typing import Any

from .models import Conversation, Message


def _conversations_export(user) -> list[dict[str, Any]]:
    conversations = Conversation.objects.filter(asker=user).prefetch_related("messages").order_by("pk")
    return [
        {
            "id": c.pk,
            "order_id": c.order_id,
            "status": c.status,
            "created_at": c.created_at,
            "messages": [
                {"sender": m.sender, "text": m.text, "intent": m.intent, "data": m.data, "at": m.created_at}
                for m in sorted(c.messages.all(), key=lambda m: m.pk)
            ],
        }
        for c in conversations
    ]


def _erase(user) -> None:
    Message.objects.filter(conversation__asker=user).delete()
    Conversation.objects.filter(asker=user).delete()


def register_privacy() -> None:
    from accounts.privacy import register_privacy_section

    register_privacy_section(name="conversations", export=_conversations_export, erase=_erase)
