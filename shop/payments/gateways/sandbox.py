"""The sandbox gateway: no money moves, but callbacks are signed and verified like real ones.

A callback is a JSON body ``{out_trade_no, transaction_id, amount_fen, trade_state}``
with ``X-Sandbox-Signature: hex(HMAC-SHA256(SANDBOX_PAYMENT_SECRET, body))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from django.conf import settings

from .base import InvalidCallback, PaymentResult

SIGNATURE_HEADER = "X-Sandbox-Signature"


def _sign(body: bytes) -> str:
    return hmac.new(settings.SANDBOX_PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


class SandboxGateway:
    name = "sandbox"

    def prepay(self, payment, *, openid: str | None) -> dict:
        return {"sandbox": True, "pay_url": f"/api/v1/sandbox/payments/{payment.pk}/pay"}

    def build_success_callback(self, payment) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends when the payer pays: headers and body."""
        body = json.dumps(
            {
                "out_trade_no": payment.out_trade_no,
                "transaction_id": f"SBX{secrets.token_hex(12)}",
                "amount_fen": payment.amount_fen,
                "trade_state": "SUCCESS",
            },
            separators=(",", ":"),
        ).encode()
        return {SIGNATURE_HEADER: _sign(body)}, body

    def parse_payment_callback(self, *, headers: dict[str, str], body: bytes) -> PaymentResult:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not signature or not hmac.compare_digest(signature, _sign(body)):
            raise InvalidCallback("Bad or missing sandbox signature.")
        try:
            data = json.loads(body)
            return PaymentResult(
                out_trade_no=str(data["out_trade_no"]),
                transaction_id=str(data["transaction_id"]),
                amount_fen=int(data["amount_fen"]),
                succeeded=data.get("trade_state") == "SUCCESS",
                raw=data,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("Signed, but not a payment notification.") from exc
