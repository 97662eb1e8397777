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


class GatewayError(ApplicationError):
    """The gateway could not be reached or said no (non-2xx). Nothing is known to have changed.

    Callers may retry: every call we make is keyed by our own number (out_trade_no,
    out_refund_no, out_bill_no), so WeChat applies a repeated call at most once.
    ``status`` is the HTTP status (None for network errors) and ``wechat_code`` is
    WeChat's error code (e.g. ``ORDERPAID``), for callers that must tell cases apart.
    """

    code = "gateway_error"
    http_status = 502
    default_message = "The payment gateway did not answer as expected. Try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        wechat_code: str | None = None,
        **context: object,
    ) -> None:
        super().__init__(message, status=status, wechat_code=wechat_code, **context)
        self.status = status
        self.wechat_code = wechat_code


class GatewayNotConfigured(ApplicationError):
    """The gateway's keys are missing from settings: no call can be signed."""

    code = "gateway_not_configured"
    http_status = 503
    default_message = "This payment gateway is not configured."


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

    def prepay_code_url(self, payment: Payment) -> str:
        """A ``code_url`` to show as a QR code on a desktop page (WeChat Pay "Native"): the
        payer scans it with WeChat and pays there. Same ``out_trade_no``, same payment."""

    def parse_payment_callback(self, *, headers: dict[str, str], body: bytes) -> PaymentResult:
        """Verify and decode a payment notification, or raise ``InvalidCallback``."""

    def query(self, out_trade_no: str) -> PaymentResult | None:
        """What the gateway knows of a payment; None while nothing has been paid (or it is unknown).

        Raises ``GatewayError`` when the gateway cannot be asked.
        """

    def close(self, out_trade_no: str) -> None:
        """Make an unpaid payment unpayable. Closing twice, or closing an unknown one, succeeds.

        Raises ``GatewayError`` otherwise (``wechat_code`` ``ORDERPAID`` when it was paid meanwhile).
        """

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> dict:
        """Ask for a refund; ``out_refund_no`` makes retries safe.

        Returns at least ``status`` (``SUCCESS``/``PROCESSING``/``CLOSED``/``ABNORMAL``) and ``refund_id``.
        """

    def parse_refund_callback(self, *, headers: dict[str, str], body: bytes) -> dict:
        """Verify and decode a refund notification, or raise ``InvalidCallback``.

        Returns ``out_refund_no``, ``refund_id``, ``out_trade_no``, ``status``, ``refund_fen``, ``raw``.
        """

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
        """Tell WeChat an order has shipped (required for mini-program goods; funds wait for it);
        ``pickup``: the buyer collects it (用户自提), no carrier."""

    def transfer(self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> dict:
        """Start a payout to a user's WeChat balance; ``out_bill_no`` makes retries safe.

        Returns at least ``state`` (``WAIT_USER_CONFIRM`` with ``package_info`` for the
        mini-program's confirm sheet) and ``transfer_bill_no``.
        """

    def parse_transfer_callback(self, *, headers: dict[str, str], body: bytes) -> dict:
        """Verify and decode a transfer notification, or raise ``InvalidCallback``.

        Returns ``out_bill_no``, ``transfer_bill_no``, ``state`` (``SUCCESS``/``FAIL``/``CANCELLED``),
        ``amount_fen``, ``fail_reason``, ``raw``.
        """

    def query_transfer(self, out_bill_no: str) -> dict | None:
        """What the gateway knows of a transfer: ``state`` (WeChat's: ``WAIT_USER_CONFIRM``,
        ``SUCCESS``, ``FAIL``, ``CANCELLED``, …), ``transfer_bill_no``, ``amount_fen``,
        ``fail_reason``; None when it has no such transfer. ``GatewayError`` when it cannot be asked.
        """
