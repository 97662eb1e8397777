"""Checks every field a gateway callback (or query answer) hands us before it reaches the database.

A signature proves who sent a body, not that its values fit our columns: an amount beyond
``bigint``, a float, a ``true``, a 10 KB id or a NUL byte would otherwise surface as a
``DataError`` (a 500) deep inside a transaction, after which the gateway retries for a day.
Every adapter's parser reads its fields through these helpers, which raise ``ValueError``
(``CallbackFieldError``) for the parser to turn into ``InvalidCallback``: nothing is
written and the gateway is not told to stop retrying, because nothing was recorded.
"""

from __future__ import annotations

import json
from typing import Any

# WeChat Pay's amounts are JSON ``int`` (32-bit) fen: ¥21,474,836.47 is the most one payment,
# refund or transfer can carry. Anything larger is not a WeChat amount, and accepting it
# could overflow a ledger balance (bigint) when the anomaly refund books it.
MAX_CALLBACK_FEN = 2**31 - 1

# Our columns: out_trade_no / out_bill_no 32, gateway ids and out_refund_no 64.
OUR_NUMBER_MAX = 32
GATEWAY_ID_MAX = 64
STATE_MAX = 32
REASON_MAX = 255


class CallbackFieldError(ValueError):
    """A verified callback whose field has the wrong type, size or content."""


def callback_text(value: object, *, name: str, max_length: int, required: bool = True) -> str:
    """A string field: non-empty when ``required``, at most ``max_length`` characters, no NUL
    (PostgreSQL text cannot hold it). Numbers are not silently turned into text."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CallbackFieldError(f"{name}: expected a string, got {type(value).__name__}")
    if required and not value:
        raise CallbackFieldError(f"{name}: empty")
    if len(value) > max_length:
        raise CallbackFieldError(f"{name}: longer than {max_length} characters")
    if "\x00" in value:
        raise CallbackFieldError(f"{name}: contains a NUL character")
    return value


def callback_reason(value: object, *, name: str = "fail_reason") -> str:
    """Free text for humans (a failure reason): optional, cut to its column, NUL removed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CallbackFieldError(f"{name}: expected a string, got {type(value).__name__}")
    return value.replace("\x00", "")[:REASON_MAX]


def callback_fen(value: object, *, name: str) -> int:
    """An amount in fen: a JSON integer (not a bool, float or string) within 0..MAX_CALLBACK_FEN."""
    # bool is an int to Python, never an amount to us.
    if not isinstance(value, int) or isinstance(value, bool):
        raise CallbackFieldError(f"{name}: expected fen as an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_CALLBACK_FEN:
        raise CallbackFieldError(f"{name}: {value} fen is outside 0..{MAX_CALLBACK_FEN}")
    return value


def _refuse_constant(name: str) -> Any:
    raise CallbackFieldError(f"{name} is not JSON")


def _has_nul(value: object) -> bool:
    """True when any string (key or value) holds a NUL: jsonb refuses ``\\u0000``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def callback_json_object(text: str | bytes) -> dict:
    """A callback body (or decrypted resource) as a dict that can be stored as ``jsonb``:
    strict JSON (no ``NaN``/``Infinity``), no NUL anywhere, not nested past the interpreter.
    ``CallbackFieldError`` otherwise."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise CallbackFieldError("nested too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, over-long ints
        raise CallbackFieldError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CallbackFieldError("not a JSON object")
    if _has_nul(data):
        raise CallbackFieldError("contains a NUL character")
    return data
