"""The gateway interface: the boundary of our walls. Everything past it is WeChat's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shop.errors import ApplicationError

if TYPE_CHECKING:
    from shop.payments.models import Payment


class InvalidCallback(ApplicationError):
    """Signature, timestamp or payload failed verification: nothing is written."""

    code = "invalid_callback"
    http_status = 401
    default_message = "The callback could not be verified."


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What a verified callback (or a query) says about one payment."""

    out_trade_no: str
    transaction_id: str
    amount_fen: int
    succeeded: bool
    raw: dict = field(default_factory=dict)


class Gateway(Protocol):
    name: str

    def prepay(self, payment: Payment, *, openid: str | None) -> dict:
        """Client-side parameters the mini-program needs to pay (e.g. wx.requestPayment)."""

    def parse_payment_callback(self, *, headers: dict[str, str], body: bytes) -> PaymentResult:
        """Verify and decode a payment notification, or raise ``InvalidCallback``."""
