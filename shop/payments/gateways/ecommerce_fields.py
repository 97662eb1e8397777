"""The e-commerce gateway's refund and profit-sharing notifications, field by field.

Both adapters (the sandbox's HMAC-signed JSON, WeChat's decrypted ``resource``) read their
fields in their own shape and hand the values to these builders, which check each one with
``fields.py`` (the hardening rule: a signature proves who sent a value, not that it fits our
columns). A value that does not fit raises ``CallbackFieldError`` (a ``ValueError``) for the
parser to turn into ``InvalidCallback``: nothing is written, and the gateway keeps retrying.
"""

from __future__ import annotations

from .ecommerce import EcommerceRefund, ShareNotice
from .fields import (
    GATEWAY_ID_MAX,
    OUR_NUMBER_MAX,
    STATE_MAX,
    callback_fen,
    callback_reason,
    callback_text,
)

MCHID_MAX = 32  # PaymentPart.sub_mchid; WeChat's merchant ids are 10 digits
OUR_OUT_NO_MAX = 64  # Refund.out_refund_no, FundsStep.out_no


def refund_notice(
    *,
    sub_mchid: object,
    out_refund_no: object,
    refund_id: object,
    out_trade_no: object,
    status: object,
    refund_fen: object,
    advance_fen: object,
    raw: dict,
) -> EcommerceRefund:
    """A refund notification whose every field fits our records (``CallbackFieldError`` else)."""
    return EcommerceRefund(
        sub_mchid=callback_text(sub_mchid, name="sub_mchid", max_length=MCHID_MAX),
        out_refund_no=callback_text(out_refund_no, name="out_refund_no", max_length=OUR_OUT_NO_MAX),
        refund_id=callback_text(refund_id, name="refund_id", max_length=GATEWAY_ID_MAX),
        out_trade_no=callback_text(out_trade_no, name="out_trade_no", max_length=OUR_NUMBER_MAX),
        status=callback_text(status, name="refund_status", max_length=STATE_MAX),
        refund_fen=callback_fen(refund_fen, name="amount.refund"),
        advance_fen=callback_fen(advance_fen, name="amount.advance"),
        raw=raw,
    )


def share_notice(
    *,
    event: object,
    sub_mchid: object,
    transaction_id: object,
    order_id: object,
    out_order_no: object,
    receiver_type: object,
    receiver_account: object,
    amount_fen: object,
    description: object,
    raw: dict,
) -> ShareNotice:
    """A profit-sharing notification whose every field fits our records (``CallbackFieldError``
    else). ``out_order_no`` is our share's ``out_order_no``, or a return's ``out_return_no``."""
    return ShareNotice(
        event=callback_text(event, name="event_type", max_length=STATE_MAX),
        sub_mchid=callback_text(sub_mchid, name="sub_mchid", max_length=MCHID_MAX),
        transaction_id=callback_text(transaction_id, name="transaction_id", max_length=GATEWAY_ID_MAX),
        order_id=callback_text(order_id, name="order_id", max_length=GATEWAY_ID_MAX),
        out_order_no=callback_text(out_order_no, name="out_order_no", max_length=OUR_OUT_NO_MAX),
        receiver_type=callback_text(receiver_type, name="receiver.type", max_length=STATE_MAX),
        receiver_account=callback_text(receiver_account, name="receiver.account", max_length=MCHID_MAX),
        amount_fen=callback_fen(amount_fen, name="receiver.amount"),
        description=callback_reason(description, name="receiver.description"),
        raw=raw,
    )
