"""What merchant staff may see of a conversation (docs/assistant.md, "Privacy").

The assistant's ``data`` is built for the buyer and may hold the buyer's pickup code or a
pickup point's address; staff answer the buyer without them. ``for_merchant`` drops every
key in ``HIDDEN_FROM_MERCHANT`` at any depth, whatever the intent that wrote it, so a new
fact added to an answer later is hidden if it is named like one of these.
``text_for_merchant`` masks, in a message's text, every value those keys held in its
``data`` (the assistant's reply quotes the code and the address), the conversation's own
secrets (``conversation_secrets``: the order's pickup code, which a buyer may type) and
anything shaped like a mainland mobile number (a buyer may type theirs).

A "which order?" message lists the buyer's orders in play, which may be with other merchants:
a conversation that later settles on one order (and is handed to its merchant) keeps it, so
its list (``choices``) is dropped and its text replaced for merchant staff."""

from __future__ import annotations

import re

MASK = "***"
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")

HIDDEN_FROM_MERCHANT = frozenset(
    {"pickup_code", "code", "phone", "contact_phone", "address", "region", "detail", "name_phone", "choices"}
)
CHOICES_SHOWN_AS = "（助手请买家从几笔订单中选一笔；订单清单只有买家可见。）"


def for_merchant(data):
    if isinstance(data, dict):
        return {k: for_merchant(v) for k, v in data.items() if k not in HIDDEN_FROM_MERCHANT}
    if isinstance(data, list):
        return [for_merchant(v) for v in data]
    return data


def _hidden_values(data, found: list[str]) -> list[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in HIDDEN_FROM_MERCHANT and isinstance(value, str | int) and str(value):
                found.append(str(value))
            else:
                _hidden_values(value, found)
    elif isinstance(data, list):
        for value in data:
            _hidden_values(value, found)
    return found


def conversation_secrets(conversation) -> tuple[str, ...]:
    """What staff never see in any message of this conversation, whoever wrote it: the
    order's pickup code (``pickup_code``, annotated by the merchant's selectors)."""
    code = getattr(conversation, "pickup_code", None)
    return (code,) if code else ()


def text_for_merchant(text: str, data, secrets: tuple[str, ...] = ()) -> str:
    if isinstance(data, dict) and "choices" in data:
        return CHOICES_SHOWN_AS
    for value in sorted({*_hidden_values(data, []), *secrets}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _MOBILE.sub(MASK, text)
