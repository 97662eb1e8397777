"""Who may register webhooks. Filled by the upper apps in ``AppConfig.ready()``.

``shop.notifications`` sits at the bottom of the stack and knows nothing of leaders or
merchants; ``groupstore`` registers "a certified leader" and "staff of a merchant"
(DESIGN.md: webhooks go to "the URL the leader or merchant configures").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WebhookOwnerCheck = Callable[[Any], bool]

_CHECKS: dict[str, WebhookOwnerCheck] = {}


def register_webhook_owner_check(*, name: str, check: WebhookOwnerCheck) -> None:
    _CHECKS[name] = check


def user_may_own_webhooks(user) -> bool:
    return any(check(user) for check in _CHECKS.values())
