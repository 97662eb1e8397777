"""Intent recognition: jieba segmentation plus the ops-editable phrase table
(docs/assistant.md, "Intents").

How a question is read:

1. The text is normalised (NFKC: full-width digits and letters become ASCII; lower case).
2. jieba cuts it into words, with every phrase of the table added to its dictionary so
   that a phrase comes out as one word (``转人工`` is not cut into 转 / 人工).
3. Each active phrase scores its weight once when it is one of the words, or — phrases
   of two characters or more — when it is a run of whole words (退款 / 了 / 吗 holds
   退款了; 什么时候 / 到账 does not hold 什么时候到). A one-character phrase (退, 团, 返 …)
   scores only as a word of its own, never inside another word.
4. The intent with the highest total wins, if it reaches ``MIN_SCORE``; asking for a
   person (``handover`` at ``HANDOVER_SCORE`` or more) wins outright. Below, ``unknown``.
5. Money is never guessed (``_too_close``): two money intents (refund, rebate,
   withdrawal), or a money intent as runner-up, within ``MONEY_MARGIN`` of each other
   give ``unknown`` marked *unsure*: the assistant says it is not sure and offers a
   person. A money intent ahead of a non-money one needs only to be ahead.

An order number is read from the text only after an order word (订单 / 单号 / order /
#): "订单 1024", "订单号：1024", "#1024". A bare number is never taken for an order (it
may be a quantity, an amount or a tracking number).

The table is cached per process and re-read when its version in the shared cache moves
(``phrase_table_invalidate``, called on every save or delete of a phrase); the version is
looked at no more than once a second.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field

from django.core.cache import cache

logger = logging.getLogger("assistant.intents")

MONEY_INTENTS = frozenset({"refund", "rebate", "withdrawal"})
MIN_SCORE = 2
HANDOVER_SCORE = 6
MONEY_MARGIN = 2
# When two intents score the same and neither is about money, the first in this order wins.
PRIORITY = ("handover", "order_status", "team", "refund", "rebate", "withdrawal")

_ORDER_NUMBER = re.compile(r"(?:订单号?|单号|order|#)\s*(?:no\.?|id)?\s*[:：号是为]?\s*(\d{1,12})(?!\d)")
_VERSION_KEY = "assistant:phrases:version"
# Words jieba must keep whole for the phrases around them to be read right (到账 keeps
# 什么时候到 from matching 什么时候到账). Not phrases: they score nothing themselves.
EXTRA_WORDS = ("到账", "提不出来", "退不了")

_lock = threading.Lock()
_tokenizer = None
_table: tuple[object, tuple[tuple[str, str, int], ...]] | None = None  # (version, rows)
_checked_at = 0.0
VERSION_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Recognized:
    intent: str
    scores: dict[str, int] = field(default_factory=dict)
    words: tuple[str, ...] = ()
    order_number: int | None = None
    is_unsure: bool = False  # money intents too close to call: say so, offer a person


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def order_number_in(text: str) -> int | None:
    """The order number the (normalised) text names after an order word, if any."""
    match = _ORDER_NUMBER.search(text)
    return int(match.group(1)) if match else None


def _jieba():
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for word in EXTRA_WORDS:
                    tokenizer.add_word(word)
                _tokenizer = tokenizer
    return _tokenizer


def _cached_version():
    try:
        return cache.get(_VERSION_KEY, 0)
    except Exception:  # the cache is down: keep the table we have (the database is the truth)
        logger.warning("phrase table version unreadable; using the loaded table", exc_info=True)
        return _table[0] if _table is not None else 0


def phrase_table() -> tuple[tuple[str, str, int], ...]:
    """The active phrases as ``(phrase, intent, weight)``, loaded once per version. The
    shared version is read at most every ``VERSION_CHECK_SECONDS`` (a cache round trip per
    question is most of a recognition's time): another process's edit shows within that;
    this process's own edit at once (``phrase_table_invalidate`` drops the local copy)."""
    global _table, _checked_at
    if _table is not None and time.monotonic() - _checked_at < VERSION_CHECK_SECONDS:
        return _table[1]
    version = _cached_version()
    _checked_at = time.monotonic()
    if _table is not None and _table[0] == version:
        return _table[1]
    from .models import IntentPhrase

    rows = tuple(
        IntentPhrase.objects.filter(is_active=True).order_by("pk").values_list("phrase", "intent", "weight")
    )
    tokenizer = _jieba()
    with _lock:
        for phrase, _, _ in rows:
            tokenizer.add_word(normalise(phrase))  # removed phrases stay as words: harmless
        _table = (version, tuple((normalise(p), i, w) for p, i, w in rows))
    return _table[1]


def phrase_table_invalidate() -> None:
    """Every process re-reads the table on its next question."""
    global _table
    _table = None
    try:
        cache.incr(_VERSION_KEY)
    except ValueError:  # no version yet
        cache.set(_VERSION_KEY, 1, timeout=None)
    except Exception:
        logger.warning("phrase table version not bumped (cache down)", exc_info=True)


def _spans_words(text: str, phrase: str, starts: set[int], ends: set[int]) -> bool:
    """The text holds ``phrase`` as a run of whole words (it starts where a word starts and
    ends where a word ends): 什么时候到 in 什么时候/到账 does not count."""
    at = text.find(phrase)
    while at != -1:
        if at in starts and at + len(phrase) in ends:
            return True
        at = text.find(phrase, at + 1)
    return False


def _too_close(top_intent: str, top: int, second_intent: str, second: int) -> bool:
    """Money is never guessed. Two money intents (退款 or 返利?), or a money intent just
    behind another one (a refund question must not get a delivery answer), need
    ``MONEY_MARGIN`` between them; a money intent ahead of a non-money one needs only to be
    ahead (退款什么时候到 is about the refund: its facts are the refund's)."""
    if top_intent in MONEY_INTENTS and second_intent not in MONEY_INTENTS:
        return top <= second
    if top_intent in MONEY_INTENTS or second_intent in MONEY_INTENTS:
        return top - second < MONEY_MARGIN
    return False


def intent_recognize(text: str, *, table: tuple[tuple[str, str, int], ...] | None = None) -> Recognized:
    """Read one question (see the module docstring for the rules)."""
    text = normalise(text)
    rows = phrase_table() if table is None else table
    cut = _jieba().lcut(text, HMM=False)
    words = tuple(w for w in cut if w.strip())
    word_set = set(words)
    starts, ends, at = set(), set(), 0
    for word in cut:
        starts.add(at)
        at += len(word)
        ends.add(at)
    scores: dict[str, int] = {}
    for phrase, intent, weight in rows:
        if phrase in word_set or (len(phrase) >= 2 and _spans_words(text, phrase, starts, ends)):
            scores[intent] = scores.get(intent, 0) + weight
    number = order_number_in(text)
    if scores.get("handover", 0) >= HANDOVER_SCORE:
        return Recognized("handover", scores, words, number)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], PRIORITY.index(kv[0])))
    if not ranked or ranked[0][1] < MIN_SCORE:
        return Recognized("unknown", scores, words, number)
    top_intent, top = ranked[0]
    if len(ranked) > 1 and _too_close(top_intent, top, *ranked[1]):
        return Recognized("unknown", scores, words, number, is_unsure=True)
    return Recognized(top_intent, scores, words, number)
