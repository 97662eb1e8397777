"""Gateways by name. ``sandbox`` exists only while ``SANDBOX`` is on."""

from __future__ import annotations

from django.conf import settings

from shop.errors import NotFound

from .base import Gateway


def gateway_get(name: str) -> Gateway:
    if name == "sandbox" and settings.SANDBOX:
        from .sandbox import SandboxGateway

        return SandboxGateway()
    if name == "wechatpay":
        from .wechatpay import WechatPayGateway

        return WechatPayGateway.from_settings()
    raise NotFound(f"No payment gateway {name!r}.")


def default_gateway_name() -> str:
    return settings.PAYMENT_GATEWAY
