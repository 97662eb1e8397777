"""What merchant staff see of a conversation's messages (assistant/privacy.py)."""

from __future__ import annotations

from assistant.privacy import CHOICES_SHOWN_AS, MASK, for_merchant, text_for_merchant


def test_a_which_order_list_is_never_shown_to_a_merchant():
    """The list may name the buyer's orders with other merchants; a conversation that settles
    on one order later keeps the message."""
    data = {"choices": [{"order_id": 11, "title": "纸巾"}, {"order_id": 12, "title": "奶粉"}]}
    text = "你最近有几个订单：订单11（纸巾）；订单12（奶粉）。请问是哪一个？"

    assert text_for_merchant(text, data) == CHOICES_SHOWN_AS
    assert for_merchant(data) == {}


def test_the_pickup_code_address_and_phones_are_masked_but_the_rest_kept():
    data = {"order_id": 7, "pickup_code": "483920", "point": {"address": "阳光小区3号楼", "name": "阳光点"}}
    text = "取件码 483920，地址 阳光小区3号楼，电话 13912345678，订单7"

    assert for_merchant(data) == {"order_id": 7, "point": {"name": "阳光点"}}
    assert text_for_merchant(text, data) == f"取件码 {MASK}，地址 {MASK}，电话 {MASK}，订单7"
