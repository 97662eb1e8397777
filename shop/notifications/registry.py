"""Who may register webhooks. Filled by the upper apps in ``AppConfig.ready()``.

``shop.notifications`` sits at the bottom of the stack and knows nothing of leaders or
merchants; ``groupstore`` registers "a certified leader" and "staff of a merchant"
(docs/design.md: webhooks go to "the URL the leader or merchant configures").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shop.registry import Registry

WebhookOwnerCheck = Callable[[Any], bool]

WEBHOOK_OWNER_CHECKS: Registry[WebhookOwnerCheck] = Registry("webhook owner check")


def register_webhook_owner_check(*, name: str, check: WebhookOwnerCheck) -> None:
    WEBHOOK_OWNER_CHECKS.register(name, check)


def user_may_own_webhooks(user) -> bool:
    return any(check(user) for check in WEBHOOK_OWNER_CHECKS.values())
