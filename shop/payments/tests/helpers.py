"""Test helpers of the payments app: a paid payment of a test purpose, and a small gateway
from "outside our walls" that refuses, times out or answers as told."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model

from shop.ledger.models import Account
from shop.ledger.services import AccountRef
from shop.payments.gateways.base import GatewayError, PaymentResult
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment, Refund
from shop.payments.registry import PAYMENT_PURPOSES, REFUND_PURPOSES, refund_handlers
from shop.payments.services import payment_apply_result, payment_create, payment_post_receipt

PURPOSE = "test_goods"
REFUND_PURPOSE = "test_refund"
REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)
GATEWAY_CLEARING = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)
REFUND_CLEARING = AccountRef.platform(Account.Kind.REFUND_CLEARING)

refund_events: list[tuple[str, int]] = []
_events_lock = threading.Lock()


def _paid(payment: Payment) -> None:
    payment_post_receipt(payment=payment, credits=[(REVENUE, payment.amount_fen)], kind="test_receipt")


def _refund_succeeded(refund: Refund) -> None:
    with _events_lock:
        refund_events.append(("succeeded", refund.pk))


def _refund_failed(refund: Refund) -> None:
    with _events_lock:
        refund_events.append(("failed", refund.pk))


@contextmanager
def purposes_for_tests() -> Iterator[None]:
    """The test payment and refund purposes, for one test."""
    refund_events.clear()
    handlers = refund_handlers(on_succeeded=_refund_succeeded, on_failed=_refund_failed)
    with PAYMENT_PURPOSES.override(PURPOSE, _paid), REFUND_PURPOSES.override(REFUND_PURPOSE, handlers):
        yield


def make_payer(name: str = "payer"):
    return get_user_model().objects.create(username=name, openid=f"openid-{name}")


def make_payment(*, payer=None, amount_fen: int = 1_990, gateway: str = "sandbox") -> Payment:
    payer = payer or make_payer()
    return payment_create(
        purpose=PURPOSE, payer_id=payer.pk, amount_fen=amount_fen, gateway=gateway, description="抽纸"
    )


def pay(payment: Payment, *, amount_fen: int | None = None) -> PaymentResult:
    """Apply a signed success callback (optionally of another amount) through the service."""
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    result = gateway.parse_payment_callback(headers=headers, body=body)
    if amount_fen is not None:
        result = PaymentResult(
            result.out_trade_no,
            result.transaction_id,
            amount_fen,
            True,
            {**result.raw, "amount_fen": amount_fen},
        )
    payment_apply_result(gateway=payment.gateway, result=result)
    payment.refresh_from_db()
    return result


def make_paid_payment(**kwargs: Any) -> Payment:
    payment = make_payment(**kwargs)
    pay(payment)
    assert payment.status == Payment.Status.SUCCEEDED
    return payment


class FakeGateway(SandboxGateway):
    """A gateway outside our walls whose answers the test scripts: each ``refund``/``close``/
    ``query``/``upload_shipping_info`` call takes the next scripted answer (an exception is
    raised, anything else returned) and falls back to the sandbox's behaviour when none is left.
    Callbacks are signed like the sandbox's. Every call is recorded."""

    name = "fakepay"

    def __init__(self) -> None:
        self.script: dict[str, deque] = {}
        self.calls: list[tuple[str, dict]] = []
        self.paid: dict[str, PaymentResult] = {}

    def will(self, method: str, *answers: Any) -> None:
        self.script.setdefault(method, deque()).extend(answers)

    def _next(self, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, kwargs))
        queue = self.script.get(method)
        if queue:
            answer = queue.popleft()
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return _DEFAULT

    def calls_of(self, method: str) -> list[dict]:
        return [kwargs for name, kwargs in self.calls if name == method]

    def refund(self, **kwargs: Any) -> dict:
        answer = self._next("refund", **kwargs)
        if answer is _DEFAULT:
            return super().refund(**kwargs)
        return {"refund_id": f"fake-{kwargs['out_refund_no']}", **answer}

    def close(self, out_trade_no: str) -> None:
        self._next("close", out_trade_no=out_trade_no)

    def query(self, out_trade_no: str) -> PaymentResult | None:
        answer = self._next("query", out_trade_no=out_trade_no)
        return self.paid.get(out_trade_no) if answer is _DEFAULT else answer

    def upload_shipping_info(self, **kwargs: Any) -> None:
        self._next("upload_shipping_info", **kwargs)


_DEFAULT = object()


def timeout() -> GatewayError:
    return GatewayError("WeChat Pay refund: ReadTimeout.")


def refused(status: int = 403, code: str = "NOT_ENOUGH") -> GatewayError:
    return GatewayError(f"WeChat Pay: HTTP {status} {code}", status=status, wechat_code=code)
