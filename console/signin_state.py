"""The ``state`` of a WeChat website sign-in: random, bound to this browser's session, used once.

WeChat echoes ``state`` back on the callback. Checking it against the session stops a login
CSRF (someone sending a victim's browser to our callback with the attacker's own code, which
would sign the victim in as the attacker). A state is consumed by its first callback, whatever
the outcome, and expires after ``STATE_TTL_S``. A few are kept at once, so two sign-in tabs
both work.
"""

from __future__ import annotations

import secrets
import time

SESSION_KEY = "console_signin_states"
STATE_TTL_S = 10 * 60  # WeChat's QR code itself lapses after about 5 minutes
MAX_PENDING = 5


def state_issue(session, *, next_url: str, now: float | None = None) -> str:
    """A new state for this session, remembering where to go after signing in."""
    now = time.time() if now is None else now
    pending = {
        key: entry
        for key, entry in (session.get(SESSION_KEY) or {}).items()
        if now - entry["at"] < STATE_TTL_S
    }
    while len(pending) >= MAX_PENDING:  # the oldest goes first
        pending.pop(min(pending, key=lambda key: pending[key]["at"]))
    state = secrets.token_urlsafe(24)
    pending[state] = {"next": next_url, "at": now}
    session[SESSION_KEY] = pending
    return state


def state_consume(session, state: str | None, *, now: float | None = None) -> str | None:
    """The ``next`` URL the state was issued with, or ``None`` when this session never issued
    it, already used it, or it expired. The state is gone afterwards either way."""
    now = time.time() if now is None else now
    pending = dict(session.get(SESSION_KEY) or {})
    entry = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    if entry is None or now - entry["at"] >= STATE_TTL_S:
        return None
    return entry["next"]
