"""What merchant staff may see of a conversation (docs/assistant.md, "Privacy").

The assistant's ``data`` is built for the buyer and may hold the buyer's pickup code or a
pickup point's address; staff answer the buyer without them. ``for_merchant`` drops every
key in ``HIDDEN_FROM_MERCHANT`` at any depth, whatever the intent that wrote it, so a new
fact added to an answer later is hidden if it is named like one of these."""

from __future__ import annotations

HIDDEN_FROM_MERCHANT = frozenset(
    {"pickup_code", "code", "phone", "contact_phone", "address", "region", "detail", "name_phone"}
)


def for_merchant(data):
    if isinstance(data, dict):
        return {k: for_merchant(v) for k, v in data.items() if k not in HIDDEN_FROM_MERCHANT}
    if isinstance(data, list):
        return [for_merchant(v) for v in data]
    return data
