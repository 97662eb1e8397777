"""The sandbox gateway: no money moves, but callbacks are signed and verified like real ones.

A callback is a JSON body with ``X-Sandbox-Signature: hex(HMAC-SHA256(SANDBOX_PAYMENT_SECRET, body))``:
payments ``{out_trade_no, transaction_id, amount_fen, trade_state}``, refunds
``{out_refund_no, refund_id, out_trade_no, status, refund_fen}``, transfers
``{out_bill_no, transfer_bill_no, state, amount_fen, fail_reason}``.
Refunds succeed at once; transfers wait for the user like WeChat's (``WAIT_USER_CONFIRM``).
Fake ids are derived from our own numbers, so a retried call returns the same answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from .base import GatewayError, InvalidCallback, PaymentResult
from .fields import (
    GATEWAY_ID_MAX,
    OUR_NUMBER_MAX,
    STATE_MAX,
    CallbackFieldError,
    callback_fen,
    callback_json_object,
    callback_reason,
    callback_text,
)

SIGNATURE_HEADER = "X-Sandbox-Signature"


def _sign(body: bytes) -> str:
    return hmac.new(settings.SANDBOX_PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


def _signed(data: dict) -> tuple[dict[str, str], bytes]:
    body = json.dumps(data, separators=(",", ":")).encode()
    return {SIGNATURE_HEADER: _sign(body)}, body


def _verified_json(headers: dict[str, str], body: bytes) -> dict:
    """The body as a dict once its HMAC checks out; ``InvalidCallback`` otherwise."""
    signature = headers.get(SIGNATURE_HEADER, "")
    if not signature or not hmac.compare_digest(signature, _sign(body)):
        raise InvalidCallback("Bad or missing sandbox signature.")
    try:
        return callback_json_object(body)
    except CallbackFieldError as exc:
        raise InvalidCallback(f"Signed, but not a usable JSON object ({exc}).") from exc


class SandboxGateway:
    name = "sandbox"

    def prepay(self, payment, *, openid: str | None) -> dict:
        return {"sandbox": True, "pay_url": f"/api/v1/sandbox/payments/{payment.pk}/pay"}

    def prepay_code_url(self, payment) -> str:
        """What the sandbox's payment QR code says: the sandbox pay endpoint of the payment."""
        return f"sandbox://pay/{payment.pk}?out_trade_no={payment.out_trade_no}"

    def build_success_callback(self, payment) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends when the payer pays: headers and body."""
        return _signed(
            {
                "out_trade_no": payment.out_trade_no,
                # One bank transaction per payment, as WeChat's: a repeated pay (a double tap,
                # a retried callback) carries the same id and is a plain duplicate.
                "transaction_id": _transaction_id(payment.out_trade_no),
                "amount_fen": payment.amount_fen,
                "trade_state": "SUCCESS",
            }
        )

    def build_refund_callback(
        self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, status: str = "SUCCESS"
    ) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends when a refund ends: headers and body."""
        return _signed(
            {
                "out_refund_no": out_refund_no,
                "refund_id": _refund_id(out_refund_no),
                "out_trade_no": out_trade_no,
                "status": status,
                "refund_fen": refund_fen,
            }
        )

    def build_transfer_callback(
        self, *, out_bill_no: str, amount_fen: int, state: str = "SUCCESS", fail_reason: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends when the user confirms (or the transfer fails or expires)."""
        return _signed(
            {
                "out_bill_no": out_bill_no,
                "transfer_bill_no": _transfer_bill_no(out_bill_no),
                "state": state,
                "amount_fen": amount_fen,
                "fail_reason": fail_reason,
            }
        )

    def parse_payment_callback(self, *, headers: dict[str, str], body: bytes) -> PaymentResult:
        data = _verified_json(headers, body)
        try:
            return PaymentResult(
                out_trade_no=callback_text(
                    data["out_trade_no"], name="out_trade_no", max_length=OUR_NUMBER_MAX
                ),
                transaction_id=callback_text(
                    data["transaction_id"], name="transaction_id", max_length=GATEWAY_ID_MAX
                ),
                amount_fen=callback_fen(data["amount_fen"], name="amount_fen"),
                succeeded=data.get("trade_state") == "SUCCESS",
                raw=data,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("Signed, but not a payment notification.") from exc

    def query(self, out_trade_no: str) -> PaymentResult | None:
        """The sandbox learns of payments only through its pay endpoint: nothing to query."""
        return None

    def close(self, out_trade_no: str) -> None:
        """Nothing is payable at the sandbox except through our own endpoint: closing always succeeds."""

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> dict:
        if not 0 < refund_fen <= total_fen:  # what WeChat refuses, refused the same way
            raise GatewayError(
                f"Refund of {refund_fen} fen out of {total_fen}.", status=400, wechat_code="PARAM_ERROR"
            )
        return {"status": "SUCCESS", "refund_id": _refund_id(out_refund_no), "out_refund_no": out_refund_no}

    def parse_refund_callback(self, *, headers: dict[str, str], body: bytes) -> dict:
        data = _verified_json(headers, body)
        try:
            return {
                "out_refund_no": callback_text(
                    data["out_refund_no"], name="out_refund_no", max_length=GATEWAY_ID_MAX
                ),
                "refund_id": callback_text(data["refund_id"], name="refund_id", max_length=GATEWAY_ID_MAX),
                "out_trade_no": callback_text(
                    data["out_trade_no"], name="out_trade_no", max_length=OUR_NUMBER_MAX
                ),
                "status": callback_text(data["status"], name="status", max_length=STATE_MAX),
                "refund_fen": callback_fen(data["refund_fen"], name="refund_fen"),
                "raw": data,
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("Signed, but not a refund notification.") from exc

    def upload_shipping_info(
        self,
        *,
        transaction_id: str,
        openid: str,
        carrier: str,
        tracking_no: str,
        item_desc: str,
        pickup: bool = False,
    ) -> None:
        """The sandbox holds no money, so there is nothing to release."""

    def transfer(self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> dict:
        if amount_fen <= 0:
            raise GatewayError(f"Transfer of {amount_fen} fen.", status=400, wechat_code="PARAM_ERROR")
        return {
            "state": "WAIT_USER_CONFIRM",
            "package_info": f"sandbox-package-{out_bill_no}",
            "transfer_bill_no": _transfer_bill_no(out_bill_no),
            "out_bill_no": out_bill_no,
        }

    def parse_transfer_callback(self, *, headers: dict[str, str], body: bytes) -> dict:
        data = _verified_json(headers, body)
        try:
            return {
                "out_bill_no": callback_text(
                    data["out_bill_no"], name="out_bill_no", max_length=OUR_NUMBER_MAX
                ),
                "transfer_bill_no": callback_text(
                    data["transfer_bill_no"], name="transfer_bill_no", max_length=GATEWAY_ID_MAX
                ),
                "state": callback_text(data["state"], name="state", max_length=STATE_MAX),
                "amount_fen": callback_fen(data["amount_fen"], name="amount_fen"),
                "fail_reason": callback_reason(data.get("fail_reason")),
                "raw": data,
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("Signed, but not a transfer notification.") from exc

    def query_transfer(self, out_bill_no: str) -> dict | None:
        """The sandbox keeps no state: its transfers end only by callbacks (or expiry here)."""
        return None


def _transaction_id(out_trade_no: str) -> str:
    return f"sandbox-pay-{out_trade_no}"


def _refund_id(out_refund_no: str) -> str:
    return f"sandbox-refund-{out_refund_no}"


def _transfer_bill_no(out_bill_no: str) -> str:
    return f"sandbox-transfer-{out_bill_no}"
