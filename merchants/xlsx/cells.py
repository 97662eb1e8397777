"""A sheet's ``<row>`` and ``<c>`` elements turned into rows of values, by expat: the
general reader, for a whole sheet or for one row the fast path in ``sheet.py`` leaves to it.

A cell comes out as Excel stores it: a shared or inline string or a formula's text result
as ``str``, a number as ``int`` when written as a whole number and ``float`` otherwise, a
boolean as ``bool``, an error (``#N/A``) and an ISO date (``t="d"``) as their text, an empty
cell as ``None``. Date-formatted numbers stay numbers (the files read here have no dates).
Rows and cells are placed by their ``r`` references (``B7``); one without follows the one
before it.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from .package import MAIN, MAX_CELL_CHARS, SharedStrings, XlsxUnreadable, xml_parser

MAX_COLUMN = 16_384  # XFD, Excel's last column
DIGITS = "0123456789"
TAGS = ("c", "v", "t", "is", "row", "rPh")


class ColumnNumbers(dict):
    """``"A"`` → 0, ``"AB"`` → 27 (``str`` or ``bytes``), computed once per column letters."""

    def __missing__(self, key: str | bytes) -> int:
        letters = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        if not letters or not letters.isascii() or not letters.isalpha() or len(letters) > 3:
            raise XlsxUnreadable(f"bad cell reference column {letters[:10]!r}")
        number = 0
        for letter in letters.upper():
            number = number * 26 + ord(letter) - 64
        if number > MAX_COLUMN:
            raise XlsxUnreadable(f"column {letters} is past Excel's last")
        self[key] = number - 1
        return number - 1


def cell_value(kind: str, text: str, strings: SharedStrings) -> Any:
    """A cell's value from its type (``t``) and its ``<v>`` (or inline ``<t>``) text."""
    if kind == "n":
        if not text.strip():
            return None
        try:
            return int(text)
        except ValueError:
            return float(text)
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return text.strip() == "1"
    return text  # inlineStr, str (a formula's text), e (an error), d (an ISO date)


class Rows:
    """The state of reading rows: the last line, the columns kept and the rows done.

    ``slots`` is None while every column is read (rows are ``{column: value}`` dicts), or
    ``{column: position}`` for the kept columns (rows are lists in that order)."""

    def __init__(self, strings: SharedStrings) -> None:
        self.strings = strings
        self.numbers = ColumnNumbers()
        self.slots: dict[int, int] | None = None
        self.line = 0
        self.done: list[tuple[int, Any]] = []

    def new_cells(self) -> Any:
        return {} if self.slots is None else [None] * len(self.slots)

    def parser(self, *, prefix: str | None = None) -> expat.XMLParserType:
        """An expat parser appending to ``done``: with namespaces for a whole sheet, or for a
        fragment (one row) with the sheet's ``prefix`` (``""`` or ``"x:"``) spelled out."""
        if prefix is None:
            parser = xml_parser()
            c, v, t, inline, row, phonetic_tag = (f"{MAIN} {tag}" for tag in TAGS)
        else:
            parser = xml_parser(namespaces=False)
            c, v, t, inline, row, phonetic_tag = (prefix + tag for tag in TAGS)
        strings, numbers, done = self.strings, self.numbers, self.done
        column, kind, slot, cells = -1, "n", None, self.new_cells()
        text: str | None = None  # the cell's value text, None until <v> or <t> starts
        collecting, in_inline, phonetic = False, False, 0

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal column, kind, slot, text, collecting, in_inline, phonetic, cells
            if tag == c:
                ref = attrs.get("r")
                column = numbers[ref.rstrip(DIGITS)] if ref else column + 1
                slot = column if self.slots is None else self.slots.get(column)
                kind, text = attrs.get("t", "n"), None
            elif tag == v:
                if slot is not None:
                    collecting, text = True, ""
            elif tag == t:
                if in_inline and slot is not None and not phonetic:
                    collecting, text = True, text or ""
            elif tag == row:
                ref = attrs.get("r")
                self.line = int(ref) if ref else self.line + 1
                column, cells = -1, self.new_cells()
            elif tag == inline:
                in_inline = True
            elif tag == phonetic_tag:  # a phonetic guide's reading is not part of the text
                phonetic += 1

        def end(tag: str) -> None:
            nonlocal collecting, in_inline, phonetic
            if tag == c:
                if slot is not None and text is not None:
                    cells[slot] = cell_value(kind, text, strings)
            elif tag in (v, t):
                collecting = False
            elif tag == row:
                done.append((self.line, cells))
            elif tag == inline:
                in_inline = False
            elif tag == phonetic_tag:
                phonetic -= 1

        def characters(data: str) -> None:
            nonlocal text
            if collecting:
                text += data
                if len(text) > MAX_CELL_CHARS:
                    raise XlsxUnreadable(f"a cell longer than {MAX_CELL_CHARS:,} characters")

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = characters
        return parser
