"""Request body parsing: JSON only, with a nesting limit (issue 19, items 1 and 9).

Python's ``json`` decoder recurses once per ``[`` or ``{``: a body of a few KB nested a
thousand deep raised ``RecursionError`` inside any view that read ``request.data`` (a
500). The depth is measured here before decoding, without recursion, and a body nested
deeper than ``API_JSON_MAX_DEPTH`` is a ``400 parse_error`` like any other body that is
not JSON we accept. ``json_loads_bounded`` does the same for code that reads bytes itself
(the gateway callbacks, WeChat's decrypted data).

A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` never reaches the parser: Django raises
``RequestDataTooBig`` when the body is read, answered ``413`` by the exception handler.
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json

# Our deepest legitimate body is 4 levels (an order: body → items → item → spec); 32
# leaves room for any client or gateway, far below where the decoder would recurse out.
DEFAULT_MAX_DEPTH = 32

# A JSON string as the decoder reads it, from its opening quote to the closing one; an
# unterminated one runs to the end of the text. It can always match once started, so the
# scan is linear (a pattern that can fail restarts at every quote: quadratic on `\"\"\"…`).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


class JSONTooDeep(ValueError):
    """Nested deeper than allowed (a ``ValueError``, as ``json.loads`` raises for bad JSON)."""


def max_depth() -> int:
    return getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)


def json_depth_ok(text: str, limit: int) -> bool:
    """Whether ``text`` nests at most ``limit`` arrays and objects deep. Brackets that do not
    balance (no valid JSON has them) count as too deep once there are more openings than
    ``limit``; with fewer, the decoder refuses bad JSON itself.

    Strings are dropped, then everything but brackets; each pass then removes the
    innermost empty pairs, so a skeleton ``limit`` deep is gone after ``limit`` passes.
    Every step is a C scan or regex pass, never recursion: an ordinary body costs one
    ``count`` (a few microseconds); a 2.5 MB body of 200,000 small objects about three times
    what ``json.loads`` itself takes.
    """
    if text.count("[") + text.count("{") <= limit:
        return True  # too few openings to nest deeper (every ordinary body): one C scan
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(limit):
        if not skeleton:
            return True
        shorter = _INNERMOST_PAIR.sub("", skeleton)
        if shorter == skeleton:
            return False  # unbalanced: ``[}`` or a bracket left open
        skeleton = shorter
    return not skeleton


def json_loads_bounded(text: str | bytes, *, limit: int | None = None, **kwargs):
    """``json.loads`` that raises ``JSONTooDeep`` (a ``ValueError``) instead of recursing
    past ``limit`` (default ``API_JSON_MAX_DEPTH``)."""
    limit = max_depth() if limit is None else limit
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")  # UnicodeDecodeError is a ValueError too
    if not json_depth_ok(text, limit):
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels (or its brackets do not balance).")
    try:
        return json.loads(text, **kwargs)
    except RecursionError as exc:  # not reachable within the limit; never a 500 if it were
        raise JSONTooDeep("JSON nested too deep to decode.") from exc


class JSONParser(parsers.JSONParser):
    """DRF's ``JSONParser`` (strict: no ``NaN``/``Infinity``) with the nesting limit.

    Subclassing keeps DRF reading the body through ``request.body``, where Django enforces
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
        try:
            text = stream.read().decode(encoding)
            return json_loads_bounded(text, parse_constant=parse_constant)
        except ValueError as exc:  # JSONTooDeep and UnicodeDecodeError too
            raise ParseError(f"JSON parse error - {exc}") from None
