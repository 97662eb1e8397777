"""The e-commerce sandbox: secondary merchants' money as WeChat's platform product moves it, no
real money, callbacks signed like the sandbox gateway's (``X-Sandbox-Signature``, HMAC-SHA256
with ``SANDBOX_PAYMENT_SECRET``).

Where its state lives
    The web process, the Celery worker and the test all talk to "the same WeChat", so the state
    cannot live in one process. It lives in Django's cache (Redis wherever ``REDIS_URL`` is set,
    as in tests) under ``sandbox-ecommerce:<namespace>:…`` keys, with a TTL (``ttl_s``, default
    200 days: past WeChat's 180-day windows). ``namespace`` defaults to
    ``settings.SANDBOX_ECOMMERCE_NAMESPACE`` (or ``"default"``); a test passes its own to start
    empty. Any object with the ``CacheStore`` methods may be injected as ``store``.
    Money moves under a per-merchant lock (``cache.add``), balances are integer keys moved with
    ``incr``, so concurrent processes never lose an update.

What it models
    - accounts per ``sub_mchid``: ``frozen`` (paid in, waiting for shares and unfreeze) and
      ``released`` (the merchant's to withdraw); the platform's own merchant account receives
      shares and pays subsidies and advances (it may go negative here);
    - payments: ``partner_prepay``/``combine_prepay``, then ``simulate_payment`` (the "bank": the
      buyer pays, the parts' money is frozen, the signed callback is returned);
    - subsidies before any share; shares capped at the merchant's maximum ratio (default 30 %)
      of the sub-order's amount plus subsidy, less what was already shared (net of returns);
      a share is ``PROCESSING`` when accepted and ``FINISHED`` on a later query
      (``processing_polls``); returns, unfreeze (``FINISHED`` on a later query too), refunds
      from frozen then released funds (``NOT_ENOUGH`` beyond), advance refunds and their return;
    - a per-merchant rate limit on the profit-sharing calls (``FREQUENCY_LIMITED`` beyond
      ``rate_per_s`` calls by one sub_mchid in one clock second; default
      ``SANDBOX_ECOMMERCE_RATE_PER_S`` or 300, WeChat's published per-merchant limit for share
      requests), and 2,000 a second for the whole platform (WeChat's per-platform limit);
    - bills built from its own journal, in WeChat's format (backtick fields, yuan amounts).

How tests drive its answers
    ``gateway.control`` (a ``SandboxControl``, stored in the same cache, so a worker sees it):
    ``control.answer("profit_share_create", "FREQUENCY_LIMITED", times=2)`` makes the next two
    such calls answer so. Answers any call takes: ``FREQUENCY_LIMITED``, ``NOT_SETTLED``,
    ``FAIL`` (500 ``SYSTEM_ERROR``), ``TIMEOUT`` (no answer), ``NOT_ENOUGH``. Per call:
    ``profit_share_create``: ``FINISHED`` (done at once), ``CLOSED`` (accepted, then the receivers
    fail and the money goes back); ``profit_share_return_create``/``refund``/``advance_refund``:
    ``PROCESSING`` (SUCCESS on the next query); ``bill_download``: ``BILL_NOT_READY``.
    ``control.processing_polls(n)``, ``control.rate_limit(n)``, ``control.settle_delay(s)``,
    ``control.max_share_ratio(sub_mchid, bps)``, ``control.advance_clock(seconds)`` set the standing
    behaviour. After 180 days (sandbox clock) a sub-order's frozen rest is unfrozen by itself
    (on its next touch) and shares are refused; a share can be returned only within 180 days.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache as default_cache
from django.utils import timezone

from shop.errors import ValidationFailed

from .base import GatewayError, InvalidCallback
from .bills import BILL_KINDS, BillLine, fen_to_yuan, format_bill_line, parse_bill
from .ecommerce import (
    DEFAULT_MAX_SHARE_BPS,
    FINISHED,
    FREQUENCY_LIMITED,
    MAX_SUB_ORDERS,
    NOT_ENOUGH,
    NOT_SETTLED,
    PROCESSING,
    SYSTEM_ERROR,
    AdvanceReturnResult,
    EcommercePayment,
    EcommerceRefund,
    PaymentPart,
    ShareNotice,
    ShareReceiver,
    ShareReceiverResult,
    ShareResult,
    ShareReturnResult,
    SubOrder,
    SubsidyResult,
    SubsidyReturnResult,
)
from .ecommerce_fields import refund_notice, share_notice
from .sandbox import _signed, _verified_json

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TTL_S = 200 * 24 * 3600
FREEZE_WINDOW_S = 180 * 24 * 3600  # WeChat unfreezes by itself 180 days after payment
RETURN_WINDOW_S = 180 * 24 * 3600  # and accepts share returns only within 180 days of the share
# WeChat's published limits for the e-commerce share request (请求分账, pay.weixin.qq.com/doc/v3/
# partner/4012691594): 300 QPS per trade-receiving merchant (our sub_mchid), 2,000 QPS per platform.
DEFAULT_RATE_PER_S = 300
PLATFORM_RATE_PER_S = 2_000
PLATFORM_MCHID = "1900000000"  # the sandbox platform's own merchant account (sp_mchid)
SANDBOX_APPID = "wxsandbox000000000"
LOCK_WAIT_S = 10.0
# Operations rate-limited per sub_mchid, as WeChat limits its profit-sharing APIs.
RATE_LIMITED = frozenset(
    {
        "profit_share_create",
        "profit_share_query",
        "profit_share_return_create",
        "profit_share_return_query",
        "profit_share_finish",
    }
)

TRADE_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
TRADE_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
SHARE_HEADER = (
    "分账发起时间,分账方商户号,二级商户号,微信订单号,微信分账/回退单号,商户分账/回退单号,业务类型,"
    "分账接收方类型,分账接收方,动账金额,状态,描述"
)
SHARE_SUMMARY = "分账总笔数,分账总金额,回退总笔数,回退总金额"
FUNDFLOW_HEADER = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号"
)
FUNDFLOW_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def sandbox_sub_mchid(key: str) -> str:
    """A stable 10-digit sub_mchid for our merchant ``key`` (what approval records in the sandbox)."""
    return "16" + str(int(_digest("sub_mchid", key), 16) % 10**8).zfill(8)


class CacheStore:
    """The sandbox's state in Django's cache, under ``sandbox-ecommerce:<namespace>:``."""

    def __init__(self, namespace: str, *, cache: Any = None, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._cache = cache or default_cache
        self._prefix = f"sandbox-ecommerce:{namespace}:"
        self._ttl = ttl_s

    def _k(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str, default: Any = None) -> Any:
        return self._cache.get(self._k(key), default)

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found = self._cache.get_many([self._k(k) for k in keys])
        return {k: found[self._k(k)] for k in keys if self._k(k) in found}

    def set(self, key: str, value: Any) -> None:
        self._cache.set(self._k(key), value, timeout=self._ttl)

    def add(self, key: str, value: Any, *, ttl_s: float | None = None) -> bool:
        return self._cache.add(self._k(key), value, timeout=ttl_s if ttl_s is not None else self._ttl)

    def delete(self, key: str) -> None:
        self._cache.delete(self._k(key))

    def incr(self, key: str, delta: int = 1, *, ttl_s: float | None = None) -> int:
        """Atomic add; a missing key counts from 0."""
        self.add(key, 0, ttl_s=ttl_s)
        try:
            return self._cache.incr(self._k(key), delta)
        except ValueError:  # expired between add and incr
            self.add(key, 0, ttl_s=ttl_s)
            return self._cache.incr(self._k(key), delta)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        key = f"lock:{name}"
        token = f"{time.monotonic_ns()}"
        deadline = time.monotonic() + LOCK_WAIT_S
        while not self.add(key, token, ttl_s=30):
            if time.monotonic() > deadline:
                raise GatewayError(f"Sandbox busy ({name}).", status=500, wechat_code=SYSTEM_ERROR)
            time.sleep(0.002)
        try:
            yield
        finally:
            self.delete(key)


class SandboxControl:
    """What the next calls answer, and the sandbox's standing behaviour (shared through the store)."""

    def __init__(self, store: CacheStore) -> None:
        self._store = store

    def answer(self, operation: str, answer: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (a method name) answer ``answer``."""
        with self._store.lock("control"):
            queue = list(self._store.get(f"ctl:q:{operation}", []))
            queue.extend([answer] * times)
            self._store.set(f"ctl:q:{operation}", queue)

    def take(self, operation: str) -> str | None:
        if not self._store.get(f"ctl:q:{operation}"):  # cheap path: nothing scripted
            return None
        with self._store.lock("control"):
            queue = list(self._store.get(f"ctl:q:{operation}", []))
            if not queue:
                return None
            answer = queue.pop(0)
            self._store.set(f"ctl:q:{operation}", queue)
            return answer

    def clear(self) -> None:
        for name in ("processing_polls", "rate_per_s", "settle_delay_s", "clock_offset_s"):
            self._store.delete(f"ctl:{name}")

    def processing_polls(self, n: int) -> None:
        """How many queries a share (or unfreeze, or return) answers PROCESSING before FINISHED (≥ 1)."""
        self._store.set("ctl:processing_polls", max(1, n))

    def rate_limit(self, per_second: int) -> None:
        self._store.set("ctl:rate_per_s", per_second)

    def settle_delay(self, seconds: float) -> None:
        """Shares and subsidies answer NOT_SETTLED until this long after payment."""
        self._store.set("ctl:settle_delay_s", seconds)

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock on (180-day unfreeze and return windows, settlement delay)."""
        self._store.set("ctl:clock_offset_s", float(self.get("clock_offset_s", 0)) + seconds)

    def max_share_ratio(self, sub_mchid: str, bps: int) -> None:
        self._store.set(f"ctl:max_bps:{sub_mchid}", bps)

    def get(self, name: str, default: Any) -> Any:
        return self._store.get(f"ctl:{name}", default)


def _refuse(code: str, message: str, *, status: int = 400) -> GatewayError:
    return GatewayError(f"Sandbox: {code} {message}", status=status, wechat_code=code)


_GENERIC_ANSWERS = {
    "FREQUENCY_LIMITED": (429, FREQUENCY_LIMITED, "频率超限"),
    "NOT_SETTLED": (400, NOT_SETTLED, "订单处理中，暂时无法分账，请稍后重试"),
    "FAIL": (500, SYSTEM_ERROR, "系统错误"),
    "NOT_ENOUGH": (403, NOT_ENOUGH, "余额不足"),
    "BILL_NOT_READY": (400, "STATEMENT_CREATING", "账单生成中"),
}


class SandboxEcommerceGateway:
    name = "sandbox"

    def __init__(
        self,
        *,
        namespace: str | None = None,
        store: CacheStore | None = None,
        platform_mchid: str = PLATFORM_MCHID,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> None:
        namespace = namespace or getattr(settings, "SANDBOX_ECOMMERCE_NAMESPACE", "") or "default"
        self._s = store or CacheStore(namespace, ttl_s=ttl_s)
        self.platform_mchid = platform_mchid
        self.control = SandboxControl(self._s)

    # --- the sandbox's own helpers ----------------------------------------------------

    def open_sub_merchant(self, key: str) -> str:
        """The sub_mchid of our merchant ``key``, with an empty account (idempotent)."""
        sub_mchid = sandbox_sub_mchid(key)
        self._s.add(f"bal:{sub_mchid}:frozen", 0)
        self._s.add(f"bal:{sub_mchid}:released", 0)
        return sub_mchid

    def balances(self, account: str) -> dict[str, int]:
        """``{"frozen": …, "released": …}`` of a secondary merchant (or the platform) in fen."""
        return {
            "frozen": int(self._s.get(f"bal:{account}:frozen", 0)),
            "released": int(self._s.get(f"bal:{account}:released", 0)),
        }

    def simulate_payment(
        self, *, combine_out_trade_no: str | None = None, sub_mchid: str = "", out_trade_no: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """The buyer pays a combined (or partner) payment: each part's money is frozen in its
        merchant's account. Returns the signed callback; paying again returns the same one."""
        keys = self._payment_keys(combine_out_trade_no, sub_mchid, out_trade_no)
        for part_key in keys:
            sub, _ = self._split(part_key)
            with self._s.lock(f"acct:{sub}"):
                part = self._part(part_key)
                if part["state"] == "CLOSED":
                    raise _refuse("ORDERCLOSED", "订单已关闭")
                if part["state"] == "SUCCESS":
                    continue
                part["state"] = "SUCCESS"
                part["transaction_id"] = "4200" + _digest("txn", part["sub_mchid"], part["out_trade_no"])
                part["paid_at"] = self._clock()
                part["frozen"] = part["amount"]
                self._s.set(f"part:{part_key}", part)
                self._s.set(f"txn:{part['transaction_id']}", part_key)
                self._move(
                    part["sub_mchid"], "frozen", part["amount"], "交易", part["transaction_id"], "", ""
                )
                self._journal_trade(part, refund=None)
        return self.build_payment_callback(
            combine_out_trade_no=combine_out_trade_no, sub_mchid=sub_mchid, out_trade_no=out_trade_no
        )

    def build_payment_callback(
        self, *, combine_out_trade_no: str | None = None, sub_mchid: str = "", out_trade_no: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends about a payment: headers and body."""
        keys = self._payment_keys(combine_out_trade_no, sub_mchid, out_trade_no)
        parts = [self._part(key) for key in keys]
        return _signed(
            {
                "type": "payment",
                "combine_out_trade_no": combine_out_trade_no,
                "sub_orders": [
                    {
                        "sub_mchid": p["sub_mchid"],
                        "out_trade_no": p["out_trade_no"],
                        "transaction_id": p["transaction_id"],
                        "amount_fen": p["amount"],
                        "trade_state": p["state"],
                    }
                    for p in parts
                ],
            }
        )

    def build_profit_share_callback(
        self, *, sub_mchid: str, out_order_no: str, event: str = "SUCCESS"
    ) -> tuple[dict[str, str], bytes]:
        """The notification of a share's (first) receiver; ``event`` RETURN takes ``out_order_no``
        as an ``out_return_no``."""
        if event == "RETURN":
            if self._s.get(f"return:{sub_mchid}:{out_order_no}") is None:
                raise _refuse("RESOURCE_NOT_EXISTS", "回退单不存在", status=404)
            with self._s.lock(f"acct:{sub_mchid}"):  # notified once done: building it completes it
                ret = self._return_advanced(sub_mchid, out_order_no, poll=False, complete=True)
            share = self._s.get(f"share:{sub_mchid}:{ret['out_order_no']}")
            data = {
                "type": "profitsharing",
                "event": "RETURN",
                "sub_mchid": sub_mchid,
                "transaction_id": share["transaction_id"],
                "order_id": ret["return_no"],
                "out_order_no": out_order_no,
                "receiver": {
                    "type": "MERCHANT_ID",
                    "account": ret["return_mchid"],
                    "amount_fen": ret["amount"],
                    "description": ret["description"],
                },
            }
            return _signed(data)
        # WeChat notifies once the share is done: building the notice completes it.
        share = self._share_advanced(sub_mchid, out_order_no, complete=True)
        receiver = share["receivers"][0]
        return _signed(
            {
                "type": "profitsharing",
                "event": "SUCCESS",
                "sub_mchid": sub_mchid,
                "transaction_id": share["transaction_id"],
                "order_id": share["order_id"],
                "out_order_no": out_order_no,
                "receiver": {
                    "type": receiver["type"],
                    "account": receiver["account"],
                    "amount_fen": receiver["amount"],
                    "description": receiver["description"],
                },
            }
        )

    def build_refund_callback(
        self, *, sub_mchid: str, out_refund_no: str, status: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """What the sandbox 'bank' sends about a refund (WeChat notifies once it is final):
        building it completes a processing refund. ``status`` (``CLOSED``, ``ABNORMAL``) says
        what a real refund may end as instead; the sandbox's own books are not changed by it."""
        refund = self._refund_advanced(sub_mchid, out_refund_no)
        if refund is None:
            raise _refuse("RESOURCE_NOT_EXISTS", "退款单不存在", status=404)
        payload = self._refund_payload(refund)
        if status is not None:
            payload["status"] = status
        return _signed({"type": "refund", **payload})

    # --- payments ---------------------------------------------------------------------

    def partner_prepay(
        self, *, sub_order: SubOrder, openid: str, expires_at: datetime.datetime | None = None
    ) -> dict:
        self._scripted("partner_prepay")
        self._check_sub_order(sub_order)
        self._put_part(sub_order, combine=None)
        return {
            "sandbox": True,
            "sub_mchid": sub_order.sub_mchid,
            "out_trade_no": sub_order.out_trade_no,
            "package": f"prepay_id=sandbox-{_digest('prepay', sub_order.sub_mchid, sub_order.out_trade_no)}",
        }

    def combine_prepay(
        self,
        *,
        combine_out_trade_no: str,
        sub_orders: Sequence[SubOrder],
        openid: str,
        expires_at: datetime.datetime | None = None,
    ) -> dict:
        _check_combine(sub_orders)
        self._scripted("combine_prepay")
        for sub_order in sub_orders:
            self._check_sub_order(sub_order)
        keys = [f"{s.sub_mchid}:{s.out_trade_no}" for s in sub_orders]
        existing = self._s.get(f"combine:{combine_out_trade_no}")
        if existing is not None and existing["parts"] != keys:
            raise _refuse("INVALID_REQUEST", "合单商户订单号重复，子单不一致")
        for sub_order in sub_orders:
            self._put_part(sub_order, combine=combine_out_trade_no)
        self._s.set(f"combine:{combine_out_trade_no}", {"parts": keys})
        return {
            "sandbox": True,
            "combine_out_trade_no": combine_out_trade_no,
            "package": f"prepay_id=sandbox-{_digest('combine', combine_out_trade_no)}",
        }

    def partner_close(self, *, sub_mchid: str, out_trade_no: str) -> None:
        self._scripted("partner_close")
        self._close([f"{sub_mchid}:{out_trade_no}"])

    def combine_close(
        self, *, combine_out_trade_no: str, sub_orders: Sequence[SubOrder | PaymentPart]
    ) -> None:
        self._scripted("combine_close")
        combine = self._s.get(f"combine:{combine_out_trade_no}")
        if combine is None:
            return
        listed = [f"{s.sub_mchid}:{s.out_trade_no}" for s in sub_orders]
        if sorted(listed) != sorted(combine["parts"]):
            raise _refuse("PARAM_ERROR", "合单关单须列出全部子单")
        self._close(combine["parts"])

    def partner_query(self, *, sub_mchid: str, out_trade_no: str) -> EcommercePayment | None:
        self._scripted("partner_query")
        part = self._s.get(f"part:{sub_mchid}:{out_trade_no}")
        if part is None:
            return None
        return EcommercePayment(combine_out_trade_no=None, parts=(_part_result(part),), raw=dict(part))

    def combine_query(self, combine_out_trade_no: str) -> EcommercePayment | None:
        self._scripted("combine_query")
        combine = self._s.get(f"combine:{combine_out_trade_no}")
        if combine is None:
            return None
        parts = tuple(_part_result(self._part(key)) for key in combine["parts"])
        return EcommercePayment(combine_out_trade_no=combine_out_trade_no, parts=parts, raw=dict(combine))

    def parse_payment_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommercePayment:
        data = _verified_json(dict(headers), body)
        try:
            if data.get("type") != "payment":
                raise InvalidCallback("Signed, but not a payment notification.")
            parts = tuple(
                PaymentPart(
                    sub_mchid=str(p["sub_mchid"]),
                    out_trade_no=str(p["out_trade_no"]),
                    transaction_id=str(p["transaction_id"]),
                    amount_fen=int(p["amount_fen"]),
                    trade_state=str(p["trade_state"]),
                )
                for p in data["sub_orders"]
            )
            combine = data.get("combine_out_trade_no")
            return EcommercePayment(
                combine_out_trade_no=str(combine) if combine else None, parts=parts, raw=data
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("Signed, but not a payment notification.") from exc

    # --- subsidies --------------------------------------------------------------------

    def subsidy_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        amount_fen: int,
        description: str,
        out_subsidy_no: str | None = None,
    ) -> SubsidyResult:
        self._scripted("subsidy_create")
        with self._s.lock(f"acct:{sub_mchid}"):
            part_key, part = self._paid_part(sub_mchid, transaction_id, settled=True)
            existing = part.get("subsidy")
            if existing is not None:  # one subsidy per sub-order; the same request answers the same
                if existing["amount"] != amount_fen or existing["out_subsidy_no"] != out_subsidy_no:
                    raise _refuse("INVALID_REQUEST", "一笔订单只能补差一笔")
                return self._subsidy_result(part, existing)
            if part["shares"]:
                raise _refuse("INVALID_REQUEST", "订单已分账，不能补差")
            if part["finished"]:
                raise _refuse("INVALID_REQUEST", "订单已完结分账")
            # The declared amount, or less once the buyer has been refunded (WeChat's rule).
            if not 0 < amount_fen <= part["subsidy_declared"] or (
                amount_fen != part["subsidy_declared"] and not part["refunded"]
            ):
                raise _refuse(
                    "INVALID_REQUEST",
                    f"补差金额 {amount_fen} 与下单时声明的 {part['subsidy_declared']} 不一致",
                )
            subsidy = {
                "out_subsidy_no": out_subsidy_no,
                "id": "sbxsub" + _digest("subsidy", transaction_id),
                "amount": amount_fen,
                "description": description,
                "returned": 0,
            }
            part["subsidy"] = subsidy
            part["frozen"] += amount_fen
            self._s.set(f"part:{part_key}", part)
            self._move(sub_mchid, "frozen", amount_fen, "补差", transaction_id, subsidy["id"], description)
            self._move(
                self.platform_mchid,
                "released",
                -amount_fen,
                "补差",
                transaction_id,
                subsidy["id"],
                description,
            )
            return self._subsidy_result(part, subsidy)

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
        self._scripted("subsidy_return")
        with self._s.lock(f"acct:{sub_mchid}"):
            key = f"subsidy_return:{sub_mchid}:{out_order_no}"
            done = self._s.get(key)
            if done is not None:
                return _subsidy_return_result(done)
            part_key, part = self._paid_part(sub_mchid, transaction_id)
            subsidy = part.get("subsidy")
            if subsidy is None:
                raise _refuse("INVALID_REQUEST", "该订单没有补差")
            if not 0 < amount_fen <= subsidy["amount"] - subsidy["returned"]:
                raise _refuse("INVALID_REQUEST", "补差回退金额超出可回退金额")
            self._take_from_merchant(part, amount_fen, "补差回退", out_order_no, description)
            subsidy["returned"] += amount_fen
            self._s.set(f"part:{part_key}", part)
            self._move(
                self.platform_mchid,
                "released",
                amount_fen,
                "补差回退",
                transaction_id,
                out_order_no,
                description,
            )
            done = {
                "sub_mchid": sub_mchid,
                "out_order_no": out_order_no,
                "transaction_id": transaction_id,
                "refund_id": refund_id,
                "subsidy_refund_id": "sbxsubr" + _digest("subsidy_return", sub_mchid, out_order_no),
                "amount": amount_fen,
                "result": "SUCCESS",
            }
            self._s.set(key, done)
            return _subsidy_return_result(done)

    # --- profit sharing -----------------------------------------------------------------

    def profit_share_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        out_order_no: str,
        receivers: Sequence[ShareReceiver],
        finish: bool = False,
    ) -> ShareResult:
        answer = self._scripted("profit_share_create", sub_mchid=sub_mchid)
        with self._s.lock(f"acct:{sub_mchid}"):
            existing = self._s.get(f"share:{sub_mchid}:{out_order_no}")
            wanted = [[r.type, r.account, r.amount_fen, r.description] for r in receivers]
            if existing is not None:
                if existing["transaction_id"] != transaction_id or existing["wanted"] != wanted:
                    raise _refuse("INVALID_REQUEST", "商户分账单号重复，请求参数不一致")
                return _share_result(existing)
            part_key, part = self._paid_part(sub_mchid, transaction_id, settled=True)
            if part["finished"]:
                raise _refuse("INVALID_REQUEST", "订单已完结分账，不能再分账")
            if not receivers or any(r.amount_fen <= 0 for r in receivers):
                raise _refuse("PARAM_ERROR", "分账接收方金额须为正")
            if any(r.type != "MERCHANT_ID" for r in receivers):
                raise _refuse("PARAM_ERROR", "沙箱只接受商户号接收方")
            total = sum(r.amount_fen for r in receivers)
            limit = self._share_limit(part)
            if total > limit:
                raise _refuse(
                    "INVALID_REQUEST",
                    f"分账金额超出最大分账比例 (maximum share ratio): {total} > {limit} fen",
                )
            if total > part["frozen"]:
                raise _refuse(NOT_ENOUGH, "可分账金额不足", status=403)
            share = {
                "sub_mchid": sub_mchid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "order_id": "3008" + _digest("share", sub_mchid, out_order_no),
                "part": part_key,
                "kind": "share",
                "wanted": wanted,
                "total": total,
                "returned": 0,
                "status": PROCESSING,
                "polls_left": int(self.control.get("processing_polls", 1)),
                "outcome": "CLOSED" if answer == "CLOSED" else "SUCCESS",
                "finish": bool(finish),
                "created_at": self._clock(),
                "receivers": [
                    {
                        "type": r.type,
                        "account": r.account,
                        "amount": r.amount_fen,
                        "description": r.description,
                        "result": "PENDING",
                        "fail_reason": "",
                    }
                    for r in receivers
                ],
                "close_reason": "",
                "finish_amount": 0,
            }
            part["frozen"] -= total
            part["shares"].append(out_order_no)
            part["shared"] += total
            self._s.set(f"part:{part_key}", part)
            self._s.incr(f"bal:{sub_mchid}:frozen", -total)  # held until FINISHED (or given back)
            self._s.set(f"share:{sub_mchid}:{out_order_no}", share)
            if answer == "FINISHED":
                share = self._finish_share(share)
            return _share_result(share)

    def profit_share_query(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str
    ) -> ShareResult | None:
        self._scripted("profit_share_query", sub_mchid=sub_mchid)
        share = self._s.get(f"share:{sub_mchid}:{out_order_no}")
        if share is None or share["transaction_id"] != transaction_id:
            return None
        return _share_result(self._share_advanced(sub_mchid, out_order_no, poll=True))

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
        answer = self._scripted("profit_share_return_create", sub_mchid=sub_mchid)
        with self._s.lock(f"acct:{sub_mchid}"):
            key = f"return:{sub_mchid}:{out_return_no}"
            existing = self._s.get(key)
            if existing is not None:
                if existing["out_order_no"] != out_order_no or existing["amount"] != amount_fen:
                    raise _refuse("INVALID_REQUEST", "回退单号重复，请求参数不一致")
                return _return_result(existing)
            share = self._s.get(f"share:{sub_mchid}:{out_order_no}")
            if share is None or share["kind"] != "share":
                raise _refuse("RESOURCE_NOT_EXISTS", "分账单不存在", status=404)
            if transaction_id and transaction_id != share["transaction_id"]:
                raise _refuse("PARAM_ERROR", "微信订单号与分账单不符")
            if share["status"] != FINISHED:
                raise _refuse("INVALID_REQUEST", "分账处理中，不能回退")
            if self._clock() > share["created_at"] + RETURN_WINDOW_S:
                raise _refuse("INVALID_REQUEST", "分账回退已超过180天期限")
            received = sum(
                r["amount"]
                for r in share["receivers"]
                if r["account"] == return_mchid and r["result"] == "SUCCESS"
            )
            if not 0 < amount_fen <= received - share["returned"]:
                raise _refuse("INVALID_REQUEST", "回退金额超出可回退金额")
            part = self._part(share["part"])
            # Money leaves the receiver at once; it reaches the merchant when the return succeeds.
            self._move(
                return_mchid,
                "released",
                -amount_fen,
                "分账回退",
                share["transaction_id"],
                out_return_no,
                description,
            )
            share["returned"] += amount_fen
            self._s.set(f"share:{sub_mchid}:{out_order_no}", share)
            ret = {
                "sub_mchid": sub_mchid,
                "out_order_no": out_order_no,
                "order_id": share["order_id"],
                "out_return_no": out_return_no,
                "return_no": "3009" + _digest("return", sub_mchid, out_return_no),
                "return_mchid": return_mchid,
                "amount": amount_fen,
                "description": description,
                "part": share["part"],
                "transaction_id": part["transaction_id"],
                "result": PROCESSING,
                "polls_left": 1 if answer == "PROCESSING" else 0,
            }
            self._s.set(key, ret)
            ret = self._return_advanced(sub_mchid, out_return_no, poll=False)
            return _return_result(ret)

    def profit_share_return_query(
        self, *, sub_mchid: str, out_order_no: str, out_return_no: str
    ) -> ShareReturnResult | None:
        self._scripted("profit_share_return_query", sub_mchid=sub_mchid)
        with self._s.lock(f"acct:{sub_mchid}"):
            ret = self._s.get(f"return:{sub_mchid}:{out_return_no}")
            if ret is None or ret["out_order_no"] != out_order_no:
                return None
            return _return_result(self._return_advanced(sub_mchid, out_return_no, poll=True))

    def profit_share_finish(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, description: str
    ) -> ShareResult:
        self._scripted("profit_share_finish", sub_mchid=sub_mchid)
        with self._s.lock(f"acct:{sub_mchid}"):
            existing = self._s.get(f"share:{sub_mchid}:{out_order_no}")
            if existing is not None:
                if existing["kind"] != "finish" or existing["transaction_id"] != transaction_id:
                    raise _refuse("INVALID_REQUEST", "商户分账单号重复")
                return _share_result(existing)
            part_key, part = self._paid_part(sub_mchid, transaction_id)
            if part["finished"]:
                raise _refuse("INVALID_REQUEST", "订单已完结分账")
            for share_no in part["shares"]:
                if self._s.get(f"share:{sub_mchid}:{share_no}")["status"] != FINISHED:
                    raise _refuse(NOT_SETTLED, "订单处理中：分账尚未完成，请稍后重试")
            finish = {
                "sub_mchid": sub_mchid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "order_id": "3008" + _digest("finish", sub_mchid, out_order_no),
                "part": part_key,
                "kind": "finish",
                "wanted": [],
                "total": 0,
                "returned": 0,
                "status": PROCESSING,
                "polls_left": int(self.control.get("processing_polls", 1)),
                "outcome": "SUCCESS",
                "finish": True,
                "created_at": self._clock(),
                "receivers": [],
                "close_reason": "",
                "finish_amount": 0,
                "description": description,
            }
            part["finished"] = True  # no share may start now; the money moves when FINISHED
            self._s.set(f"part:{part_key}", part)
            self._s.set(f"share:{sub_mchid}:{out_order_no}", finish)
            return _share_result(finish)

    def parse_profit_share_callback(self, *, headers: Mapping[str, str], body: bytes) -> ShareNotice:
        """A signed ``build_profit_share_callback``; every field checked (``ecommerce_fields``)."""
        data = _verified_json(dict(headers), body)
        try:
            if data.get("type") != "profitsharing":
                raise InvalidCallback("Signed, but not a profit-sharing notification.")
            receiver = data["receiver"]
            return share_notice(
                event=data["event"],
                sub_mchid=data["sub_mchid"],
                transaction_id=data["transaction_id"],
                order_id=data["order_id"],
                out_order_no=data["out_order_no"],
                receiver_type=receiver["type"],
                receiver_account=receiver["account"],
                amount_fen=receiver["amount_fen"],
                description=receiver.get("description"),
                raw=data,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidCallback("Signed, but not a profit-sharing notification.") from exc

    # --- refunds ------------------------------------------------------------------------

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
        answer = self._scripted("refund")
        return self._refund(
            sub_mchid,
            out_trade_no,
            out_refund_no,
            refund_fen,
            total_fen,
            reason,
            advance=False,
            answer=answer,
        )

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
        answer = self._scripted("advance_refund")
        return self._refund(
            sub_mchid, out_trade_no, out_refund_no, refund_fen, total_fen, reason, advance=True, answer=answer
        )

    def advance_return(self, *, sub_mchid: str, refund_id: str) -> AdvanceReturnResult:
        self._scripted("advance_return")
        with self._s.lock(f"acct:{sub_mchid}"):
            out_refund_no = self._s.get(f"refund_id:{refund_id}")
            refund = self._s.get(f"refund:{sub_mchid}:{out_refund_no}") if out_refund_no else None
            if refund is None or not refund["advance"]:
                raise _refuse("RESOURCE_NOT_EXISTS", "垫付退款单不存在", status=404)
            done = refund.get("advance_return")
            if done is None:
                amount = refund["advance"]
                if self.balances(sub_mchid)["released"] < amount:
                    raise _refuse(NOT_ENOUGH, "二级商户可用余额不足", status=403)
                self._move(
                    sub_mchid, "released", -amount, "垫付回补", refund["transaction_id"], refund_id, ""
                )
                self._move(
                    self.platform_mchid,
                    "released",
                    amount,
                    "垫付回补",
                    refund["transaction_id"],
                    refund_id,
                    "",
                )
                done = {"id": "sbxadv" + _digest("advance_return", refund_id), "amount": amount}
                refund["advance_return"] = done
                self._s.set(f"refund:{sub_mchid}:{out_refund_no}", refund)
            return AdvanceReturnResult(
                refund_id=refund_id,
                advance_return_id=done["id"],
                amount_fen=done["amount"],
                result="SUCCESS",
                raw=dict(done),
            )

    def refund_query(self, *, sub_mchid: str, out_refund_no: str) -> EcommerceRefund | None:
        self._scripted("refund_query")
        refund = self._refund_advanced(sub_mchid, out_refund_no)
        return None if refund is None else _refund_result(refund)

    def parse_refund_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommerceRefund:
        """A signed ``build_refund_callback``; every field checked (``ecommerce_fields``)."""
        data = _verified_json(dict(headers), body)
        try:
            if data.get("type") != "refund":
                raise InvalidCallback("Signed, but not a refund notification.")
            return refund_notice(
                sub_mchid=data["sub_mchid"],
                out_refund_no=data["out_refund_no"],
                refund_id=data["refund_id"],
                out_trade_no=data["out_trade_no"],
                status=data["status"],
                refund_fen=data["refund_fen"],
                advance_fen=data.get("advance_fen", 0),
                raw=data,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidCallback("Signed, but not a refund notification.") from exc

    # --- shipping -----------------------------------------------------------------------

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
        """Recorded (``shipment``) as WeChat checks it: the sub-order must be paid, under that
        transaction, and named in the form that fits it (``10060001`` 支付单不存在 otherwise):
        the combined form for a combined payment's sub-order, the single form otherwise."""
        self._scripted("upload_shipping_info", sub_mchid=sub_mchid)
        part_key = f"{sub_mchid}:{out_trade_no}"
        part = self._s.get(f"part:{part_key}")
        combine = self._s.get(f"combine:{combine_out_trade_no}") if combine_out_trade_no else None
        if (
            part is None
            or part["state"] != "SUCCESS"
            or part.get("transaction_id") != transaction_id
            or part.get("combine") != combine_out_trade_no
            or (combine_out_trade_no and (combine is None or part_key not in combine["parts"]))
        ):
            raise _refuse("10060001", "支付单不存在")
        with self._s.lock(f"ship:{part_key}"):
            before = self._s.get(f"ship:{part_key}") or {"uploads": 0}
            self._s.set(
                f"ship:{part_key}",
                {
                    "uploads": before["uploads"] + 1,
                    "combined": combine_out_trade_no is not None,
                    "logistics_type": 4 if pickup else 1,
                    "carrier": "" if pickup else carrier,
                    "tracking_no": "" if pickup else tracking_no,
                    "item_desc": item_desc,
                    "openid": openid,
                },
            )

    def shipment(self, *, sub_mchid: str, out_trade_no: str) -> dict | None:
        """What was last uploaded for a sub-order (and how many uploads), or None."""
        return self._s.get(f"ship:{sub_mchid}:{out_trade_no}")

    # --- bills --------------------------------------------------------------------------

    def bill_download(
        self, kind: str, date: datetime.date, *, sub_mchid: str | None = None
    ) -> Iterator[BillLine]:
        if kind not in BILL_KINDS:
            raise ValidationFailed(f"No bill of kind {kind!r}: one of {', '.join(BILL_KINDS)}.")
        self._scripted("bill_download")
        return parse_bill(kind, self._bill_text(kind, date, sub_mchid), sub_mchid=sub_mchid)

    def bill_text(self, kind: str, date: datetime.date, *, sub_mchid: str | None = None) -> Iterator[str]:
        """The bill as the text lines WeChat would send (for tests of the parser)."""
        return self._bill_text(kind, date, sub_mchid)

    def _bill_text(self, kind: str, date: datetime.date, sub_mchid: str | None) -> Iterator[str]:
        day = date.strftime("%Y%m%d")
        if kind in ("trade", "refund"):
            yield TRADE_HEADER
            count = settled = refunded = applied = ordered = 0
            for entry in self._journal(day, "trade"):
                if (kind == "refund" and not entry["refund"]) or (sub_mchid and entry["row"][3] != sub_mchid):
                    continue
                yield format_bill_line(entry["row"])
                count += 1
                settled += entry["settled"]
                refunded += entry["refunded"]
                ordered += entry["settled"]
                applied += entry["refunded"]
            yield TRADE_SUMMARY
            yield format_bill_line(
                [
                    count,
                    fen_to_yuan(settled),
                    fen_to_yuan(refunded),
                    "0.00",
                    "0.00000",
                    fen_to_yuan(ordered),
                    fen_to_yuan(applied),
                ]
            )
        elif kind == "profitsharing":
            yield SHARE_HEADER
            shares = shared = returns = returned = 0
            for entry in self._journal(day, "profitsharing"):
                if sub_mchid and entry["row"][2] != sub_mchid:
                    continue
                yield format_bill_line(entry["row"])
                if entry["return"]:
                    returns, returned = returns + 1, returned + entry["amount"]
                else:
                    shares, shared = shares + 1, shared + entry["amount"]
            yield SHARE_SUMMARY
            yield format_bill_line([shares, fen_to_yuan(shared), returns, fen_to_yuan(returned)])
        else:
            account = sub_mchid or self.platform_mchid
            yield FUNDFLOW_HEADER
            count = ins = outs = income = spent = 0
            for entry in self._journal(day, "fundflow"):
                if entry["account"] != account:
                    continue
                yield format_bill_line(entry["row"])
                count += 1
                if entry["amount"] >= 0:
                    ins, income = ins + 1, income + entry["amount"]
                else:
                    outs, spent = outs + 1, spent - entry["amount"]
            yield FUNDFLOW_SUMMARY
            yield format_bill_line([count, ins, fen_to_yuan(income), outs, fen_to_yuan(spent)])

    # --- internals ----------------------------------------------------------------------

    def _scripted(self, operation: str, *, sub_mchid: str | None = None) -> str | None:
        """Apply the rate limit and any scripted answer: raise it, or return an operation-specific one."""
        answer = self.control.take(operation)
        if answer == "TIMEOUT":
            raise GatewayError(f"Sandbox {operation}: ReadTimeout.")
        if answer in _GENERIC_ANSWERS:
            status, code, message = _GENERIC_ANSWERS[answer]
            raise _refuse(code, message, status=status)
        if sub_mchid is not None and operation in RATE_LIMITED:
            per_s = int(
                self.control.get(
                    "rate_per_s", getattr(settings, "SANDBOX_ECOMMERCE_RATE_PER_S", DEFAULT_RATE_PER_S)
                )
            )
            second = int(time.time())
            if self._s.incr(f"rl:{sub_mchid}:{second}", ttl_s=5) > per_s:
                raise _refuse(FREQUENCY_LIMITED, f"频率超限 ({per_s}/s per sub_mchid)", status=429)
            if self._s.incr(f"rl:platform:{second}", ttl_s=5) > PLATFORM_RATE_PER_S:
                raise _refuse(
                    FREQUENCY_LIMITED, f"频率超限 ({PLATFORM_RATE_PER_S}/s per platform)", status=429
                )
        return answer

    def _payment_keys(self, combine_out_trade_no: str | None, sub_mchid: str, out_trade_no: str) -> list[str]:
        if combine_out_trade_no:
            combine = self._s.get(f"combine:{combine_out_trade_no}")
            if combine is None:
                raise _refuse("ORDER_NOT_EXIST", "订单不存在", status=404)
            return list(combine["parts"])
        if self._s.get(f"part:{sub_mchid}:{out_trade_no}") is None:
            raise _refuse("ORDER_NOT_EXIST", "订单不存在", status=404)
        return [f"{sub_mchid}:{out_trade_no}"]

    @staticmethod
    def _split(part_key: str) -> tuple[str, str]:
        sub_mchid, _, out_trade_no = part_key.partition(":")
        return sub_mchid, out_trade_no

    def _part(self, part_key: str) -> dict:
        part = self._s.get(f"part:{part_key}")
        if part is None:
            raise _refuse("ORDER_NOT_EXIST", "订单不存在", status=404)
        return part

    @staticmethod
    def _check_sub_order(sub_order: SubOrder) -> None:
        if not sub_order.sub_mchid or not sub_order.out_trade_no:
            raise ValidationFailed("A sub-order needs its sub_mchid and out_trade_no.")
        if sub_order.amount_fen <= 0 or sub_order.subsidy_fen < 0:
            raise ValidationFailed("A sub-order's amount must be positive and its subsidy not negative.")

    def _put_part(self, sub_order: SubOrder, *, combine: str | None) -> None:
        """Record a new part, or check a repeated prepay against the recorded one. Lock-free:
        a new part is one atomic ``add`` (a prepay is on every checkout's path, and a lock
        per secondary merchant would queue all of a merchant's buyers behind each other);
        an existing part is only read, in one ``get``, so a payment or close in flight is
        seen either before or after, never half-done. Balances need no entry here: every
        change to them is an ``incr`` that counts from 0."""
        key = f"part:{sub_order.sub_mchid}:{sub_order.out_trade_no}"
        fresh = {
            "sub_mchid": sub_order.sub_mchid,
            "out_trade_no": sub_order.out_trade_no,
            "description": sub_order.description,
            "amount": sub_order.amount_fen,
            "subsidy_declared": sub_order.subsidy_fen,
            "combine": combine,
            "state": "NOTPAY",
            "transaction_id": "",
            "paid_at": None,
            "frozen": 0,
            "subsidy": None,
            "shares": [],
            "shared": 0,
            "share_returned": 0,
            "refunded": 0,
            "finished": False,
        }
        existing = None
        while not self._s.add(key, fresh):
            existing = self._s.get(key)
            if existing is not None:
                break  # (else it expired between the two calls: add again)
        if existing is None:
            return
        if existing["state"] == "SUCCESS":
            raise _refuse("ORDERPAID", "该订单已支付")
        if existing["state"] == "CLOSED":
            raise _refuse("ORDERCLOSED", "订单已关闭")
        if (existing["amount"], existing["subsidy_declared"], existing["combine"]) != (
            sub_order.amount_fen,
            sub_order.subsidy_fen,
            combine,
        ):
            raise _refuse("INVALID_REQUEST", "商户订单号重复，请求参数不一致")

    def _close(self, part_keys: list[str]) -> None:
        for key in part_keys:
            part = self._s.get(f"part:{key}")
            if part is not None and part["state"] == "SUCCESS":
                raise _refuse("ORDERPAID", "订单已支付")
        for key in part_keys:
            sub_mchid, _ = self._split(key)
            with self._s.lock(f"acct:{sub_mchid}"):
                part = self._s.get(f"part:{key}")
                if part is not None and part["state"] == "NOTPAY":
                    part["state"] = "CLOSED"
                    self._s.set(f"part:{key}", part)

    def _paid_part(self, sub_mchid: str, transaction_id: str, *, settled: bool = False) -> tuple[str, dict]:
        part_key = self._s.get(f"txn:{transaction_id}")
        if part_key is None or self._split(part_key)[0] != sub_mchid:
            raise _refuse("RESOURCE_NOT_EXISTS", "订单不存在", status=404)
        part = self._part(part_key)
        delay = float(self.control.get("settle_delay_s", 0))
        if settled and self._clock() < part["paid_at"] + delay:
            raise _refuse(NOT_SETTLED, "订单处理中，暂时无法分账，请稍后重试")
        self._expire(part_key, part)
        return part_key, part

    def _expire(self, part_key: str, part: dict) -> None:
        """WeChat unfreezes by itself what is still frozen 180 days after payment (caller holds
        the merchant's lock); no share is possible after that."""
        if part["finished"] or self._clock() < part["paid_at"] + FREEZE_WINDOW_S:
            return
        amount = part["frozen"]
        part["frozen"] = 0
        part["finished"] = True
        part["auto_unfrozen"] = True
        self._s.set(f"part:{part_key}", part)
        self._move(part["sub_mchid"], "frozen", -amount, "解冻", part["transaction_id"], "", "到期自动解冻")
        self._move(part["sub_mchid"], "released", amount, "解冻", part["transaction_id"], "", "到期自动解冻")

    def _share_limit(self, part: dict) -> int:
        bps = int(self.control.get(f"max_bps:{part['sub_mchid']}", DEFAULT_MAX_SHARE_BPS))
        subsidy = part["subsidy"]["amount"] if part["subsidy"] else 0
        base = part["amount"] + subsidy
        return base * bps // 10_000 - (part["shared"] - part["share_returned"])

    def _share_advanced(
        self, sub_mchid: str, out_order_no: str, *, poll: bool = False, complete: bool = False
    ) -> dict:
        """The share (or finishing request), moved on to FINISHED when its polls are used up."""
        with self._s.lock(f"acct:{sub_mchid}"):
            share = self._s.get(f"share:{sub_mchid}:{out_order_no}")
            if share is None:
                raise _refuse("RESOURCE_NOT_EXISTS", "分账单不存在", status=404)
            if share["status"] == FINISHED:
                return share
            if poll:
                share["polls_left"] -= 1
            if share["polls_left"] > 0 and not complete:
                self._s.set(f"share:{sub_mchid}:{out_order_no}", share)
                return share
            return self._finish_share(share)

    def _finish_share(self, share: dict) -> dict:
        """Complete a share or a finishing request (caller holds the merchant's lock)."""
        sub_mchid = share["sub_mchid"]
        part = self._part(share["part"])
        if share["kind"] == "finish":
            amount = part["frozen"]
            part["frozen"] = 0
            self._move(
                sub_mchid,
                "frozen",
                -amount,
                "解冻",
                share["transaction_id"],
                share["out_order_no"],
                "完结分账",
            )
            self._move(
                sub_mchid,
                "released",
                amount,
                "解冻",
                share["transaction_id"],
                share["out_order_no"],
                "完结分账",
            )
            share["finish_amount"] = amount
        elif share["outcome"] == "CLOSED":
            # The receivers failed: the held money goes back to the order's frozen funds.
            part["frozen"] += share["total"]
            part["shared"] -= share["total"]
            self._s.incr(f"bal:{sub_mchid}:frozen", share["total"])
            for receiver in share["receivers"]:
                receiver["result"], receiver["fail_reason"] = "CLOSED", "RECEIVER_HIGH_RISK"
            share["close_reason"] = "分账接收方不可用"
        else:
            for receiver in share["receivers"]:
                receiver["result"] = "SUCCESS"
                self._journal_fund(
                    sub_mchid,
                    -receiver["amount"],
                    "分账",
                    share["transaction_id"],
                    share["out_order_no"],
                    receiver["description"],
                )
                self._move(
                    receiver["account"],
                    "released",
                    receiver["amount"],
                    "分账",
                    share["transaction_id"],
                    share["out_order_no"],
                    receiver["description"],
                )
                self._journal_share(share, receiver, is_return=False)
            if share["finish"]:
                amount = part["frozen"]
                part["frozen"] = 0
                self._move(
                    sub_mchid,
                    "frozen",
                    -amount,
                    "解冻",
                    share["transaction_id"],
                    share["out_order_no"],
                    "分账并完结",
                )
                self._move(
                    sub_mchid,
                    "released",
                    amount,
                    "解冻",
                    share["transaction_id"],
                    share["out_order_no"],
                    "分账并完结",
                )
                part["finished"] = True
                share["finish_amount"] = amount
        share["status"] = FINISHED
        share["polls_left"] = 0
        self._s.set(f"part:{share['part']}", part)
        self._s.set(f"share:{sub_mchid}:{share['out_order_no']}", share)
        return share

    def _return_advanced(
        self, sub_mchid: str, out_return_no: str, *, poll: bool, complete: bool = False
    ) -> dict:
        key = f"return:{sub_mchid}:{out_return_no}"
        ret = self._s.get(key)
        if ret["result"] != PROCESSING:
            return ret
        if poll:
            ret["polls_left"] -= 1
        if ret["polls_left"] > 0 and not complete:
            self._s.set(key, ret)
            return ret
        part = self._part(ret["part"])
        part["share_returned"] += ret["amount"]
        if part["finished"]:
            self._move(
                sub_mchid,
                "released",
                ret["amount"],
                "分账回退",
                ret["transaction_id"],
                out_return_no,
                ret["description"],
            )
        else:
            part["frozen"] += ret["amount"]
            self._move(
                sub_mchid,
                "frozen",
                ret["amount"],
                "分账回退",
                ret["transaction_id"],
                out_return_no,
                ret["description"],
            )
        self._s.set(f"part:{ret['part']}", part)
        ret["result"] = "SUCCESS"
        self._s.set(key, ret)
        share = self._s.get(f"share:{sub_mchid}:{ret['out_order_no']}")
        self._journal_share(
            share,
            {
                "type": "MERCHANT_ID",
                "account": ret["return_mchid"],
                "amount": ret["amount"],
                "description": ret["description"],
            },
            is_return=True,
            return_no=ret["return_no"],
            out_return_no=out_return_no,
        )
        return ret

    def _take_from_merchant(self, part: dict, amount: int, what: str, ref: str, remark: str) -> None:
        """Debit a merchant for a refund or a subsidy return: the order's frozen funds first, then
        its released balance; ``NOT_ENOUGH`` when both together are short (caller holds the lock)."""
        sub_mchid = part["sub_mchid"]
        from_frozen = min(amount, part["frozen"])
        from_released = amount - from_frozen
        if from_released > self.balances(sub_mchid)["released"]:
            raise _refuse(NOT_ENOUGH, "二级商户余额不足", status=403)
        if from_frozen:
            part["frozen"] -= from_frozen
            self._move(sub_mchid, "frozen", -from_frozen, what, part["transaction_id"], ref, remark)
        if from_released:
            self._move(sub_mchid, "released", -from_released, what, part["transaction_id"], ref, remark)

    def _refund(
        self,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        *,
        advance: bool,
        answer: str | None,
    ) -> EcommerceRefund:
        with self._s.lock(f"acct:{sub_mchid}"):
            key = f"refund:{sub_mchid}:{out_refund_no}"
            existing = self._s.get(key)
            if existing is not None:
                if existing["out_trade_no"] != out_trade_no or existing["refund"] != refund_fen:
                    raise _refuse("INVALID_REQUEST", "退款单号重复，请求参数不一致")
                return _refund_result(existing)
            part_key = f"{sub_mchid}:{out_trade_no}"
            part = self._s.get(f"part:{part_key}")
            if part is None or part["state"] != "SUCCESS":
                raise _refuse("RESOURCE_NOT_EXISTS", "订单不存在或未支付", status=404)
            self._expire(part_key, part)
            if total_fen != part["amount"]:
                raise _refuse("PARAM_ERROR", f"订单金额 {total_fen} 与原订单 {part['amount']} 不一致")
            if not 0 < refund_fen <= part["amount"] - part["refunded"]:
                raise _refuse("PARAM_ERROR", f"退款金额 {refund_fen} 超出可退金额")
            refund_id = "5030" + _digest("refund", sub_mchid, out_refund_no)
            if advance:
                self._move(
                    self.platform_mchid,
                    "released",
                    -refund_fen,
                    "垫付退款",
                    part["transaction_id"],
                    refund_id,
                    reason,
                )
            else:
                self._take_from_merchant(part, refund_fen, "退款", refund_id, reason)
            part["refunded"] += refund_fen
            self._s.set(f"part:{part_key}", part)
            refund = {
                "sub_mchid": sub_mchid,
                "out_trade_no": out_trade_no,
                "transaction_id": part["transaction_id"],
                "out_refund_no": out_refund_no,
                "refund_id": refund_id,
                "refund": refund_fen,
                "total": total_fen,
                "advance": refund_fen if advance else 0,
                "status": PROCESSING if answer == "PROCESSING" else "SUCCESS",
                "description": part["description"],
            }
            self._s.set(key, refund)
            self._s.set(f"refund_id:{refund_id}", out_refund_no)
            self._journal_trade(part, refund=refund)
            return _refund_result(refund)

    def _refund_advanced(self, sub_mchid: str, out_refund_no: str) -> dict | None:
        key = f"refund:{sub_mchid}:{out_refund_no}"
        with self._s.lock(f"acct:{sub_mchid}"):
            refund = self._s.get(key)
            if refund is not None and refund["status"] == PROCESSING:
                refund["status"] = "SUCCESS"  # one query later, as WeChat's usually are
                self._s.set(key, refund)
            return refund

    @staticmethod
    def _refund_payload(refund: dict) -> dict:
        return {
            "sub_mchid": refund["sub_mchid"],
            "out_refund_no": refund["out_refund_no"],
            "refund_id": refund["refund_id"],
            "out_trade_no": refund["out_trade_no"],
            "status": refund["status"],
            "refund_fen": refund["refund"],
            "advance_fen": refund["advance"],
        }

    def _subsidy_result(self, part: dict, subsidy: dict) -> SubsidyResult:
        return SubsidyResult(
            sub_mchid=part["sub_mchid"],
            transaction_id=part["transaction_id"],
            subsidy_id=subsidy["id"],
            amount_fen=subsidy["amount"],
            result="SUCCESS",
            raw=dict(subsidy),
        )

    # --- money and journal --------------------------------------------------------------

    def _move(
        self, account: str, bucket: str, amount: int, what: str, transaction_id: str, ref: str, remark: str
    ) -> None:
        """Change one balance and write the fund-flow line (frozen-only moves of the platform never occur)."""
        if amount == 0:
            return
        self._s.incr(f"bal:{account}:{bucket}", amount)
        self._journal_fund(account, amount, what, transaction_id, ref, remark, bucket=bucket)

    def _clock(self) -> float:
        """The sandbox's time: ours, moved on by ``control.advance_clock`` (tests of the 180-day rules)."""
        return time.time() + float(self.control.get("clock_offset_s", 0))

    def _now(self) -> datetime.datetime:
        offset = datetime.timedelta(seconds=float(self.control.get("clock_offset_s", 0)))
        return (timezone.now() + offset).astimezone(SHANGHAI)

    def _append(self, kind: str, entry: dict) -> None:
        day = self._now().strftime("%Y%m%d")
        seq = self._s.incr(f"journal:{day}:{kind}:n")
        self._s.set(f"journal:{day}:{kind}:{seq}", entry)

    def _journal(self, day: str, kind: str) -> Iterator[dict]:
        count = int(self._s.get(f"journal:{day}:{kind}:n", 0))
        batch = 500
        for start in range(1, count + 1, batch):
            keys = [f"journal:{day}:{kind}:{i}" for i in range(start, min(start + batch, count + 1))]
            found = self._s.get_many(keys)
            for key in keys:
                if key in found:
                    yield found[key]

    def _journal_trade(self, part: dict, *, refund: dict | None) -> None:
        stamp = self._now().strftime("%Y-%m-%d %H:%M:%S")
        amount = part["amount"]
        if refund is None:
            row = [
                stamp,
                SANDBOX_APPID,
                self.platform_mchid,
                part["sub_mchid"],
                "",
                part["transaction_id"],
                part["out_trade_no"],
                "sandbox-openid",
                "JSAPI",
                "SUCCESS",
                "OTHERS",
                "CNY",
                fen_to_yuan(amount),
                "0.00",
                "0",
                "0",
                "0.00",
                "0.00",
                "",
                "",
                part["description"],
                "",
                "0.00000",
                "0.00%",
                fen_to_yuan(amount),
                "0.00",
                "",
            ]
            entry = {"row": row, "refund": False, "settled": amount, "refunded": 0}
        else:
            row = [
                stamp,
                SANDBOX_APPID,
                self.platform_mchid,
                part["sub_mchid"],
                "",
                part["transaction_id"],
                part["out_trade_no"],
                "sandbox-openid",
                "JSAPI",
                "REFUND",
                "OTHERS",
                "CNY",
                "0.00",
                "0.00",
                refund["refund_id"],
                refund["out_refund_no"],
                fen_to_yuan(refund["refund"]),
                "0.00",
                "ORIGINAL",
                "SUCCESS",
                part["description"],
                "",
                "0.00000",
                "0.00%",
                fen_to_yuan(amount),
                fen_to_yuan(refund["refund"]),
                "",
            ]
            entry = {"row": row, "refund": True, "settled": 0, "refunded": refund["refund"]}
        self._append("trade", entry)

    def _journal_share(
        self, share: dict, receiver: dict, *, is_return: bool, return_no: str = "", out_return_no: str = ""
    ) -> None:
        stamp = self._now().strftime("%Y-%m-%d %H:%M:%S")
        row = [
            stamp,
            self.platform_mchid,
            share["sub_mchid"],
            share["transaction_id"],
            return_no if is_return else share["order_id"],
            out_return_no if is_return else share["out_order_no"],
            "分账回退" if is_return else "分账",
            receiver["type"],
            receiver["account"],
            fen_to_yuan(receiver["amount"]),
            "SUCCESS",
            receiver["description"],
        ]
        self._append("profitsharing", {"row": row, "return": is_return, "amount": receiver["amount"]})

    def _journal_fund(
        self,
        account: str,
        amount: int,
        what: str,
        transaction_id: str,
        ref: str,
        remark: str,
        *,
        bucket: str = "frozen",
    ) -> None:
        stamp = self._now().strftime("%Y-%m-%d %H:%M:%S")
        balance = sum(self.balances(account).values())
        flow_no = "sbxflow" + _digest("flow", account, what, ref, str(amount), str(time.time_ns()))
        row = [
            stamp,
            transaction_id,
            flow_no,
            what,
            f"{what}({bucket})",
            "收入" if amount >= 0 else "支出",
            fen_to_yuan(abs(amount)),
            fen_to_yuan(balance),
            "sandbox",
            remark,
            ref,
        ]
        self._append("fundflow", {"row": row, "account": account, "amount": amount})


def _check_combine(sub_orders: Sequence[SubOrder]) -> None:
    if not 1 <= len(sub_orders) <= MAX_SUB_ORDERS:
        raise ValidationFailed(
            f"A combined payment has 1 to {MAX_SUB_ORDERS} sub-orders, not {len(sub_orders)}."
        )
    keys = {(s.sub_mchid, s.out_trade_no) for s in sub_orders}
    if len(keys) != len(sub_orders):
        raise ValidationFailed("A combined payment lists each sub-order once.")


def _part_result(part: dict) -> PaymentPart:
    return PaymentPart(
        sub_mchid=part["sub_mchid"],
        out_trade_no=part["out_trade_no"],
        transaction_id=part["transaction_id"],
        amount_fen=part["amount"],
        trade_state=part["state"],
        payer_fen=part["amount"] if part["state"] == "SUCCESS" else None,
    )


def _share_result(share: dict) -> ShareResult:
    return ShareResult(
        sub_mchid=share["sub_mchid"],
        transaction_id=share["transaction_id"],
        out_order_no=share["out_order_no"],
        order_id=share["order_id"],
        status=share["status"],
        receivers=tuple(
            ShareReceiverResult(
                account=r["account"],
                amount_fen=r["amount"],
                description=r["description"],
                result=r["result"],
                type=r["type"],
                fail_reason=r["fail_reason"],
            )
            for r in share["receivers"]
        ),
        close_reason=share["close_reason"],
        finish_amount_fen=share["finish_amount"],
        raw={k: v for k, v in share.items() if k not in ("wanted", "part")},
    )


def _return_result(ret: dict) -> ShareReturnResult:
    return ShareReturnResult(
        sub_mchid=ret["sub_mchid"],
        out_order_no=ret["out_order_no"],
        out_return_no=ret["out_return_no"],
        return_no=ret["return_no"],
        return_mchid=ret["return_mchid"],
        amount_fen=ret["amount"],
        result=ret["result"],
        raw=dict(ret),
    )


def _subsidy_return_result(done: dict) -> SubsidyReturnResult:
    return SubsidyReturnResult(
        sub_mchid=done["sub_mchid"],
        out_order_no=done["out_order_no"],
        transaction_id=done["transaction_id"],
        refund_id=done["refund_id"],
        subsidy_refund_id=done["subsidy_refund_id"],
        amount_fen=done["amount"],
        result=done["result"],
        raw=dict(done),
    )


def _refund_result(refund: dict) -> EcommerceRefund:
    return EcommerceRefund(
        sub_mchid=refund["sub_mchid"],
        out_refund_no=refund["out_refund_no"],
        refund_id=refund["refund_id"],
        out_trade_no=refund["out_trade_no"],
        status=refund["status"],
        refund_fen=refund["refund"],
        advance_fen=refund["advance"],
        raw=dict(refund),
    )
