"""Gateways by name. ``sandbox`` exists only while ``SANDBOX`` is on.

Other gateways may be registered by name in ``EXTRA_GATEWAYS`` (tests put in small fakes
that refuse or time out: what lies outside our walls); the two real names always win.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from shop.errors import NotFound
from shop.registry import Registry

from .base import Gateway

EXTRA_GATEWAYS: Registry[Callable[[], Gateway]] = Registry("payment gateway")


def gateway_get(name: str) -> Gateway:
    if name == "sandbox" and settings.SANDBOX:
        from .sandbox import SandboxGateway

        return SandboxGateway()
    if name == "wechatpay":
        from .wechatpay import WechatPayGateway

        return WechatPayGateway.from_settings()
    if name in EXTRA_GATEWAYS:
        return EXTRA_GATEWAYS.get(name)()
    raise NotFound(f"No payment gateway {name!r}.")


def default_gateway_name() -> str:
    return settings.PAYMENT_GATEWAY
