"""Gateways by name. ``sandbox`` exists only while ``SANDBOX`` is on.

Other gateways may be registered by name (tests register small fakes that refuse or time
out: what lies outside our walls); the two real names cannot be replaced.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from shop.errors import NotFound

from .base import Gateway

BUILT_IN = frozenset({"sandbox", "wechatpay"})
_EXTRA: dict[str, Callable[[], Gateway]] = {}


def gateway_get(name: str) -> Gateway:
    if name == "sandbox" and settings.SANDBOX:
        from .sandbox import SandboxGateway

        return SandboxGateway()
    if name == "wechatpay":
        from .wechatpay import WechatPayGateway

        return WechatPayGateway.from_settings()
    if name in _EXTRA:
        return _EXTRA[name]()
    raise NotFound(f"No payment gateway {name!r}.")


def gateway_register(*, name: str, factory: Callable[[], Gateway]) -> None:
    if name in BUILT_IN:
        raise RuntimeError(f"gateway {name!r} is built in")
    _EXTRA[name] = factory


def gateway_unregister(*, name: str) -> None:
    _EXTRA.pop(name, None)


def default_gateway_name() -> str:
    return settings.PAYMENT_GATEWAY
