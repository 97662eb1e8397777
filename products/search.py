"""Chinese-aware product search (docs/design.md "Search").

Titles are segmented with jieba into words, the words are joined by spaces and
stored in ``Product.search_vector`` with PostgreSQL's ``simple`` configuration
(lower-casing only, no stemming, no stop words): PostgreSQL's own parsers do not
segment Chinese, jieba does. A query is segmented the same way and becomes a
``tsquery``; the GIN index answers it and ``ts_rank`` orders the matches.

Two rules keep index and query in step:
- both sides use the same dictionary (jieba's own plus ``search_words.txt``) and
  HMM off, because HMM's new-word guesses depend on the surrounding text, so the
  same word could split one way in a title and another way in a query;
- the index holds every word of the precise cut (weight A), the category name's
  words (B), and the sub-words ``cut_for_search`` finds inside them plus the parts
  of mixed letter/digit words (C): ``手机壳`` gives 手机壳 and 手机, 机壳;
  ``iphone15`` gives iphone15 and iphone, 15. The query asks, for each word of its
  precise cut, for that word *or* all of its parts. So ``手机`` finds 手机壳 titles,
  ``移动电源`` finds "移动 电源", and ``iphone15`` finds "iPhone 15"; and a title
  holding the word itself ranks above one holding it only inside a longer word.

Changing the dictionary changes segmentation: run ``manage.py rebuild_search_index``
afterwards. jieba loads its dictionary once per process, lazily (about 1 s; the
gunicorn master can preload it with ``warm_up()``).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("products.search")

USER_WORDS = Path(__file__).with_name("search_words.txt")

# Words that say nothing about the product; dropped from queries when other words remain.
QUERY_STOP_WORDS = frozenset(
    {"的", "了", "和", "与", "及", "或", "之", "是", "在", "也", "都", "the", "a", "an"}
)
MAX_QUERY_WORDS = 12  # a pasted paragraph must not become a 200-term query

_WORD = re.compile(r"\w+")  # letters of any script, digits, underscore
_ALNUM_PARTS = re.compile(r"[^\W\d_]+|\d+")  # runs of letters, runs of digits

_lock = threading.Lock()
_tokenizer = None


def _jieba():
    """The process-wide tokenizer, loaded on first use (thread-safe, once)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                if USER_WORDS.exists():
                    tokenizer.load_userdict(str(USER_WORDS))
                _tokenizer = tokenizer
    return _tokenizer


def warm_up() -> None:
    """Load the dictionary now (e.g. in a gunicorn master before forking)."""
    _jieba()


def _clean(words) -> list[str]:
    """Lower-cased word tokens; punctuation and spaces dropped, order kept."""
    out = []
    for word in words:
        for piece in _WORD.findall(word.lower()):
            out.append(piece)
    return out


def _alnum_parts(word: str) -> list[str]:
    """``iphone15`` → [iphone, 15]; a word of one kind has no parts."""
    parts = _ALNUM_PARTS.findall(word)
    return parts if len(parts) > 1 else []


def index_words(text: str) -> tuple[str, str]:
    """``(words, sub_words)`` of ``text`` to store in the vector, each space-joined.

    ``words`` is the precise cut (手机壳); ``sub_words`` what cut_for_search adds inside
    them (手机, 机壳) and the parts of letter/digit words (iphone, 15). They are stored
    with different weights so that a title with the word itself ranks above one that
    only contains it inside a longer word (纸巾 above 纸巾盒).
    """
    tokenizer = _jieba()
    words: list[str] = []
    sub_words: list[str] = []
    for piece in tokenizer.cut(text or "", HMM=False):
        cleaned = _clean([piece])
        words.extend(cleaned)
        for word in cleaned:
            sub_words.extend(_alnum_parts(word))
            if len(word) > 2:
                sub_words.extend(p for p in _clean(tokenizer.cut_for_search(word, HMM=False)) if p != word)
    return " ".join(words), " ".join(sub_words)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query as tsquery texts: ``strict`` needs every word, ``relaxed`` any of them."""

    words: tuple[str, ...]
    strict: str
    relaxed: str | None


def _quote(lexeme: str) -> str:
    # _WORD already removed quotes and backslashes; quoting keeps tsquery operators out.
    return "'" + lexeme.replace("'", "''").replace("\\", "\\\\") + "'"


def _parts(word: str, tokenizer) -> list[str]:
    """Sub-words that together cover every character of ``word`` (empty if it has none).

    cut_for_search gives the dictionary sub-words (洗衣液 → 洗衣), which need not
    cover the word: the characters left over are added as their own words (液), or
    "洗衣" alone would find washing powder.
    """
    parts = [p for p in _clean(tokenizer.cut_for_search(word, HMM=False)) if p != word]
    parts += [p for p in _alnum_parts(word) if p not in parts]
    if not parts:
        return []
    covered = [False] * len(word)
    for part in parts:
        start = word.find(part)
        while start != -1:
            covered[start : start + len(part)] = [True] * len(part)
            start = word.find(part, start + 1)
    run = ""
    for char, is_covered in zip(word, covered, strict=True):
        if is_covered:
            if run:
                parts += _clean(tokenizer.cut(run, HMM=False))
                run = ""
        else:
            run += char
    if run:
        parts += _clean(tokenizer.cut(run, HMM=False))
    return list(dict.fromkeys(parts))


def _clause(word: str, tokenizer) -> str:
    """``word`` itself, or all of its parts."""
    parts = _parts(word, tokenizer)
    if not parts:
        return _quote(word)
    return "(" + _quote(word) + " | (" + " & ".join(_quote(p) for p in parts) + "))"


@functools.lru_cache(maxsize=4096)
def parse_query(q: str) -> ParsedQuery | None:
    """Segment a shopper's query; None when nothing searchable is left.

    Remembered per distinct query (the dictionary is fixed for the process's life, and a
    ``ParsedQuery`` is immutable): shoppers repeat the same searches, and segmenting one took
    about a sixth of a search request's CPU in the server (``bench/catalog_search.py
    --profile``)."""
    tokenizer = _jieba()
    words = list(dict.fromkeys(_clean(tokenizer.cut(q or "", HMM=False))))
    meaningful = [w for w in words if w not in QUERY_STOP_WORDS]
    words = (meaningful or words)[:MAX_QUERY_WORDS]
    if not words:
        return None
    clauses = [_clause(word, tokenizer) for word in words]
    strict = " & ".join(clauses)
    relaxed = " | ".join(clauses) if len(clauses) > 1 else None
    return ParsedQuery(words=tuple(words), strict=strict, relaxed=relaxed)


def fallback_words(q: str) -> list[str]:
    """Words for the SQLite fallback (each must appear in the title or category name)."""
    parsed = parse_query(q)
    return list(parsed.words) if parsed else []
