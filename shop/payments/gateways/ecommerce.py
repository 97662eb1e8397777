"""The e-commerce platform gateway (平台收付通): the boundary of our walls for merchants' money.

Each approved merchant is a secondary merchant of our platform merchant account, known to
WeChat by its ``sub_mchid``. A buyer pays the merchant directly (frozen for profit sharing):
one partner JSAPI payment for one merchant, one combined payment (合单, ≤ 50 sub-orders, closed
only as a whole) across merchants. After payment the platform may

- pay a subsidy (补差) into a sub-order's frozen funds (declared at prepay, before any share),
  and return it on refund (补差回退);
- share (分账) part of the frozen funds to its own merchant account (``finish`` false, so the
  rest stays frozen), which WeChat accepts as ``PROCESSING`` and later reports ``FINISHED``;
- return a share (分账回退) before refunding the buyer;
- unfreeze the rest for the merchant (完结分账);
- refund, from the merchant's funds or advanced by the platform (垫付退款), and take the advance
  back from the merchant (垫付回补);
- download bills: trade, refund, profit sharing, fund flow (the secondary merchants' own fund
  flow encrypted, one per ``sub_mchid``);
- report a sub-order's shipment to the mini-program (the combined form for a combined payment).

Every call is keyed by our own number (``out_trade_no``, ``out_order_no``, ``out_return_no``,
``out_refund_no``, ``out_subsidy_no``; a subsidy is also one per ``transaction_id``), so a
repeated call is applied at most once and answers as the first did. Every refusal or failure
to reach the gateway is a ``GatewayError`` whose ``wechat_code`` says which: ``retry_later``
tells the ones to simply try again (rate limit, payment not yet settled, bill not ready yet,
WeChat's own errors).

Two adapters: ``ecommerce_sandbox.SandboxEcommerceGateway`` and
``ecommerce_wechatpay.WechatPayEcommerceGateway``; ``ecommerce_gateway_get(name)`` builds one.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from shop.errors import NotFound

from .base import GatewayError
from .bills import BillLine

MAX_SUB_ORDERS = 50  # WeChat's limit for one combined payment
DEFAULT_MAX_SHARE_BPS = 3_000  # WeChat's default maximum share ratio: 30 % of what can be shared

# ``GatewayError.wechat_code`` values callers must tell apart.
FREQUENCY_LIMITED = "FREQUENCY_LIMITED"  # rate limit: retry later, slower
# Share/subsidy asked before WeChat settled the payment: retry later. WeChat's v2 profit sharing
# names it ORDER_NOT_READY; the v3 e-commerce documentation we could read does not list the code,
# so ``is_not_settled`` also knows WeChat's wording of it ("订单处理中，暂时无法分账").
NOT_SETTLED = "ORDER_NOT_READY"
NOT_ENOUGH = "NOT_ENOUGH"  # the merchant's balance is short (refund: use the advance refund)
SYSTEM_ERROR = "SYSTEM_ERROR"  # WeChat's own failure: retry with the same number
BILL_NOT_READY = "STATEMENT_CREATING"  # the day's bill is being made (ready ~10:00 next day)
NO_BILL = "NO_STATEMENT_EXIST"  # no bill (yet) for that day
RETRY_LATER_CODES = frozenset({FREQUENCY_LIMITED, NOT_SETTLED, SYSTEM_ERROR, BILL_NOT_READY, NO_BILL})
# How WeChat words "not yet settled" when it answers a generic code (see ``retry_later``).
_NOT_SETTLED_WORDS = ("暂时无法分账", "订单处理中", "未结算", "not settled")

# Answers of ``ShareResult.status`` and friends.
PROCESSING = "PROCESSING"
FINISHED = "FINISHED"


def retry_later(exc: GatewayError) -> bool:
    """True when the same call, with the same numbers, should simply be sent again later:
    rate-limited, payment not yet settled, bill not ready, WeChat's own error, or no answer."""
    if exc.wechat_code in RETRY_LATER_CODES:
        return True
    if is_not_settled(exc):
        return True
    return exc.status is None or (exc.status is not None and exc.status >= 500)


def is_not_settled(exc: GatewayError) -> bool:
    """The share (or subsidy) was refused because WeChat has not yet settled the payment."""
    if exc.wechat_code == NOT_SETTLED:
        return True
    return exc.wechat_code in {"INVALID_REQUEST", "PARAM_ERROR"} and any(
        word in exc.message for word in _NOT_SETTLED_WORDS
    )


# --- what we send ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubOrder:
    """One merchant's part of a payment: what prepay declares for it."""

    sub_mchid: str
    out_trade_no: str
    amount_fen: int  # what the buyer pays for this part
    description: str
    subsidy_fen: int = 0  # the platform coupon's part, paid later as a subsidy (0: none)
    attach: str = ""


@dataclass(frozen=True, slots=True)
class ShareReceiver:
    """One receiver of a share. The platform's receiver is its own merchant account."""

    account: str  # a merchant id (never a person's openid here)
    amount_fen: int
    description: str
    type: str = "MERCHANT_ID"


# --- what we get back -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentPart:
    """One sub-order as the gateway knows it (``transaction_id`` empty while unpaid)."""

    sub_mchid: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    trade_state: str  # SUCCESS, NOTPAY, CLOSED, PAYERROR, REFUND, …
    payer_fen: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.trade_state == "SUCCESS"


@dataclass(frozen=True, slots=True)
class EcommercePayment:
    """A verified payment notification or a query: a combined payment (``combine_out_trade_no``
    set) or a partner payment (``combine_out_trade_no`` None, one part)."""

    combine_out_trade_no: str | None
    parts: tuple[PaymentPart, ...]
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def succeeded(self) -> bool:
        return bool(self.parts) and all(part.succeeded for part in self.parts)


@dataclass(frozen=True, slots=True)
class SubsidyResult:
    sub_mchid: str
    transaction_id: str
    subsidy_id: str
    amount_fen: int
    result: str  # SUCCESS or FAIL
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class SubsidyReturnResult:
    sub_mchid: str
    out_order_no: str
    transaction_id: str
    refund_id: str
    subsidy_refund_id: str
    amount_fen: int
    result: str  # SUCCESS or FAIL
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ShareReceiverResult:
    account: str
    amount_fen: int
    description: str
    result: str  # PENDING, SUCCESS, CLOSED
    type: str = "MERCHANT_ID"
    fail_reason: str = ""


@dataclass(frozen=True, slots=True)
class ShareResult:
    """A share (or the finishing request, which is a share order too) as the gateway has it."""

    sub_mchid: str
    transaction_id: str
    out_order_no: str
    order_id: str
    status: str  # PROCESSING or FINISHED
    receivers: tuple[ShareReceiverResult, ...] = ()
    close_reason: str = ""
    finish_amount_fen: int = 0  # what a finishing request unfroze for the merchant
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def shared_fen(self) -> int:
        """What reached the receivers (only final once ``finished``)."""
        return sum(r.amount_fen for r in self.receivers if r.result == "SUCCESS")


@dataclass(frozen=True, slots=True)
class ShareReturnResult:
    sub_mchid: str
    out_order_no: str
    out_return_no: str
    return_no: str
    return_mchid: str
    amount_fen: int
    result: str  # PROCESSING, SUCCESS, FAILED
    fail_reason: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class EcommerceRefund:
    """A refund's answer, query or verified notification."""

    sub_mchid: str
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    status: str  # SUCCESS, PROCESSING, CLOSED, ABNORMAL
    refund_fen: int
    advance_fen: int = 0  # what the platform advanced (垫付); 0 when paid from the merchant's funds
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class AdvanceReturnResult:
    """The platform taking an advanced refund back from the merchant (垫付回补)."""

    refund_id: str
    advance_return_id: str
    amount_fen: int
    result: str  # SUCCESS, FAILED, PROCESSING
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ShareNotice:
    """A verified profit-sharing notification (分账动账通知): money reached (``SUCCESS``) or left
    (``RETURN``) a receiver."""

    event: str  # SUCCESS or RETURN
    sub_mchid: str
    transaction_id: str
    order_id: str
    out_order_no: str  # our out_order_no (a share) or out_return_no (a return)
    receiver_account: str
    amount_fen: int
    description: str
    receiver_type: str = "MERCHANT_ID"
    raw: dict = field(default_factory=dict, compare=False)


class EcommerceGateway(Protocol):
    name: str

    # --- payments --------------------------------------------------------------------

    def partner_prepay(
        self,
        *,
        sub_order: SubOrder,
        openid: str,
        expires_at: datetime.datetime | None = None,
    ) -> dict:
        """A single-merchant JSAPI payment; the ``wx.requestPayment`` parameters."""

    def combine_prepay(
        self,
        *,
        combine_out_trade_no: str,
        sub_orders: Sequence[SubOrder],
        openid: str,
        expires_at: datetime.datetime | None = None,
    ) -> dict:
        """A combined payment of 1–50 sub-orders (``ValidationFailed`` beyond); the
        ``wx.requestPayment`` parameters."""

    def partner_close(self, *, sub_mchid: str, out_trade_no: str) -> None:
        """Make an unpaid partner payment unpayable; closing twice or an unknown one succeeds.
        ``GatewayError`` ``ORDERPAID`` when it was paid meanwhile."""

    def combine_close(
        self, *, combine_out_trade_no: str, sub_orders: Sequence[SubOrder | PaymentPart]
    ) -> None:
        """Close a combined payment as a whole (every sub-order listed). As ``partner_close``."""

    def partner_query(self, *, sub_mchid: str, out_trade_no: str) -> EcommercePayment | None:
        """What the gateway knows of a partner payment; None when it never saw it."""

    def combine_query(self, combine_out_trade_no: str) -> EcommercePayment | None:
        """What the gateway knows of a combined payment; None when it never saw it."""

    def parse_payment_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommercePayment:
        """Verify and decode a partner or combined payment notification, or ``InvalidCallback``."""

    # --- subsidies -------------------------------------------------------------------

    def subsidy_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        amount_fen: int,
        description: str,
        out_subsidy_no: str | None = None,
    ) -> SubsidyResult:
        """Pay the declared subsidy into the sub-order's frozen funds: one per sub-order, after
        settlement (``NOT_SETTLED`` before: retry), before any share, of the amount declared at
        prepay (less only after a refund). Retried with the same parameters it is paid once;
        ``out_subsidy_no`` (ours, optional at WeChat) makes that explicit. Never retry with
        another amount: WeChat may pay twice."""

    def subsidy_return(
        self,
        *,
        sub_mchid: str,
        out_order_no: str,
        transaction_id: str,
        refund_id: str,
        amount_fen: int,
        description: str,
    ) -> SubsidyReturnResult:
        """Take (part of) a subsidy back on refund; ``out_order_no`` is ours, one per refund."""

    # --- profit sharing --------------------------------------------------------------

    def profit_share_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        out_order_no: str,
        receivers: Sequence[ShareReceiver],
        finish: bool = False,
    ) -> ShareResult:
        """Share frozen funds to the receivers (usually ``PROCESSING``; poll
        ``profit_share_query``). ``finish`` False keeps the rest frozen."""

    def profit_share_query(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str
    ) -> ShareResult | None:
        """A share (or finishing request) by our number; None when the gateway has none."""

    def profit_share_return_create(
        self,
        *,
        sub_mchid: str,
        out_order_no: str,
        out_return_no: str,
        return_mchid: str,
        amount_fen: int,
        description: str,
        transaction_id: str | None = None,
    ) -> ShareReturnResult:
        """Return (part of) a share from ``return_mchid`` (our receiver) to the merchant (within
        180 days of the share). ``transaction_id`` is sent when given (WeChat's current request
        model has it)."""

    def profit_share_return_query(
        self, *, sub_mchid: str, out_order_no: str, out_return_no: str
    ) -> ShareReturnResult | None:
        """A share return by our number; None when the gateway has none."""

    def profit_share_finish(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, description: str
    ) -> ShareResult:
        """Unfreeze the rest of the sub-order for the merchant (完结分账). ``out_order_no`` is a
        number of its own (not a share's). Confirmed when ``profit_share_query`` says FINISHED."""

    def parse_profit_share_callback(self, *, headers: Mapping[str, str], body: bytes) -> ShareNotice:
        """Verify and decode a profit-sharing notification, or ``InvalidCallback``."""

    # --- refunds ---------------------------------------------------------------------

    def refund(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
    ) -> EcommerceRefund:
        """Refund from the merchant's funds. ``NOT_ENOUGH`` when they are short: use
        ``advance_refund``."""

    def advance_refund(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
    ) -> EcommerceRefund:
        """Refund advanced by the platform (垫付退款); ``advance_fen`` says how much."""

    def advance_return(self, *, sub_mchid: str, refund_id: str) -> AdvanceReturnResult:
        """Take an advanced refund back from the merchant's funds (垫付回补), once per refund."""

    def refund_query(self, *, sub_mchid: str, out_refund_no: str) -> EcommerceRefund | None:
        """A refund by our number; None when the gateway has none."""

    def parse_refund_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommerceRefund:
        """Verify and decode a refund notification, or ``InvalidCallback``."""

    # --- shipping (the mini-program's order-shipping API) ------------------------------

    def upload_shipping_info(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        transaction_id: str,
        openid: str,
        carrier: str,
        tracking_no: str,
        item_desc: str,
        combine_out_trade_no: str | None = None,
        pickup: bool = False,
    ) -> None:
        """Report one paid sub-order's shipment (WeChat holds the money until then): the
        combined form when it is part of the combined payment ``combine_out_trade_no``, else
        the sub-order's own (a partner payment, by its ``transaction_id``). ``pickup``: the
        buyer collects it (用户自提), no carrier. Sent again, it is WeChat's correction."""

    # --- bills -----------------------------------------------------------------------

    def bill_download(
        self, kind: str, date: datetime.date, *, sub_mchid: str | None = None
    ) -> Iterator[BillLine]:
        """The day's bill, line by line, in flat memory. ``kind`` is one of ``trade``, ``refund``,
        ``profitsharing``, ``fundflow``; ``fundflow`` with ``sub_mchid`` is that secondary
        merchant's own (decrypted, hash-checked) fund flow. ``GatewayError``
        (``STATEMENT_CREATING``/``NO_STATEMENT_EXIST``: retry later) when it is not ready."""


def ecommerce_gateway_get(name: str) -> EcommerceGateway:
    """The e-commerce gateway by name: ``sandbox`` (only while ``SANDBOX`` is on) or ``wechatpay``."""
    if name == "sandbox" and settings.SANDBOX:
        from .ecommerce_sandbox import SandboxEcommerceGateway

        return SandboxEcommerceGateway()
    if name == "wechatpay":
        from .ecommerce_wechatpay import WechatPayEcommerceGateway

        return WechatPayEcommerceGateway.from_settings()
    raise NotFound(f"No e-commerce payment gateway {name!r}.")
