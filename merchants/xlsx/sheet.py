"""The first sheet of an XLSX workbook, streamed row by row straight from the zip.

The sheet's XML is unpacked in chunks and read as it arrives; no cell is kept past its row,
so memory stays flat whatever the file's length (python-calamine, used before, held the
whole sheet in Rust: 18.8 MB of peak RSS growth for 100,000 rows against 9.7 MB for the
same file as CSV, bench/RESULTS.md).

Two readers, one result:

- the fast path, for what Excel, WPS and openpyxl write: a UTF-8 sheet of elements and
  text. The unpacked bytes are cut after the last complete ``</row>``; in each such block
  one regular expression finds every cell of the shapes those writers use
  (``<c r="B2" s="1" t="s"><v>7</v></c>``, an inline string, ``<c r="C2" s="1"/>``), and
  the cells are grouped into rows by their references. The block is trusted only if every
  ``<`` in it belongs to a matched cell or a row tag (text holds no ``<``, so no markup can
  hide): a block with anything else (a formula, rich text, an escaped character, a cell
  without its reference) is parsed whole by expat instead.
- expat (``cells.Rows``): for such blocks; for the rest of the sheet from a comment, CDATA
  or processing instruction on (a ``</row>`` inside one would cut a row in two); for the
  whole sheet when it is not UTF-8 or has a DOCTYPE (which expat then refuses).

``XlsxUnreadable`` / ``XlsxTooLarge`` (from ``package``) say why a file cannot be read.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from functools import cache
from typing import IO, Any
from xml.parsers import expat

from .cells import Rows, cell_value
from .package import (
    CHUNK,
    MAX_PENDING_BYTES,
    MAX_SHEET_BYTES,
    XlsxUnreadable,
    first_sheet_and_strings,
    open_part,
    shared_strings,
)

# what reading a damaged zip or part may raise: a bad CRC or length, a broken deflate stream,
# an encrypted or unsupported member, broken XML, bad UTF-8, a shared string index past the end
_BROKEN = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    IndexError,
    RuntimeError,
    NotImplementedError,
    expat.ExpatError,
)
_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s/>]")


@cache
def _patterns(prefix: str) -> tuple[re.Pattern[bytes], re.Pattern[bytes], tuple[bytes, ...]]:
    """For the sheet's namespace ``prefix``: its sheetData start tag; a cell of the shapes
    the fast path reads (groups: column letters, row number, type, ``<v>`` text, inline
    text; an empty cell only as ``<c .../>``); the spellings of the row tags."""
    p = re.escape(prefix).encode()
    sheet_data = re.compile(rb"<%bsheetData(?:\s[^>]*?)?\s*(/?)>" % p)
    text = rb"([^<&\r]+)"  # no markup, no escaped character, no CR (expat normalises it)
    cell = re.compile(
        rb'<%(p)bc r="([A-Z]{1,3})(\d+)"(?: s="\d+")?(?: t="(\w+)")?(?: s="\d+")?'
        rb"(?:/>|>(?:<%(p)bv>%(text)b</%(p)bv>"
        rb'|<%(p)bis><%(p)bt(?: xml:space="preserve")?>%(text)b</%(p)bt></%(p)bis>)</%(p)bc>)'
        % {b"p": p, b"text": text}
    )
    row_tags = tuple(tag % prefix.encode() for tag in (b"<%brow ", b"<%brow>", b"</%brow>"))
    return sheet_data, cell, row_tags


def _utf8(first: bytes) -> bool:
    """Whether the sheet, from its first chunk, is in UTF-8 (the fast path's encoding)."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    declaration = _DECLARATION.match(first)
    encoding = _ENCODING.search(declaration.group()) if declaration else None
    return encoding is None or encoding.group(1).lower() in (b"utf-8", b"utf8")


class _Slots(dict):
    """Column letters (``b"AB"``) → where the cell goes in a row: its column while every
    column is read, its place among the kept columns after ``keep`` (``None``: not kept)."""

    def __init__(self, rows: Rows) -> None:
        super().__init__()
        self._rows = rows

    def __missing__(self, letters: bytes) -> int | None:
        column = self._rows.numbers[letters]
        slots = self._rows.slots
        self[letters] = slot = column if slots is None else slots.get(column)
        return slot


class SheetReader:
    """``rows()`` yields ``(line, cells)``: the row's number in Excel and its cells as a
    ``{column: value}`` dict (column 0 is A), or, once ``keep(columns)`` is called, a list of
    those columns' values in that order (``None`` for an empty cell). Values: see
    ``cells``."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        try:
            self._archive = zipfile.ZipFile(fileobj)
            self._sheet_name, strings = first_sheet_and_strings(self._archive)
            self._rows = Rows(shared_strings(self._archive, strings))
            self._sheet = open_part(self._archive, self._sheet_name, MAX_SHEET_BYTES)
        except _BROKEN as exc:
            raise XlsxUnreadable(f"{type(exc).__name__}: {exc}") from None
        self._columns: list[int] | None = None
        self._slot_of = _Slots(self._rows)

    def keep(self, columns: list[int]) -> None:
        """From the next row on, only ``columns`` (0 is A), as a list in this order."""
        self._columns = list(columns)
        self._rows.slots = {column: slot for slot, column in enumerate(columns)}
        self._slot_of = _Slots(self._rows)

    def close(self) -> None:
        self._sheet.close()
        self._archive.close()

    def rows(self) -> Iterator[tuple[int, Any]]:
        try:
            yield from self._matched_rows()
        except _BROKEN as exc:
            raise XlsxUnreadable(f"{type(exc).__name__}: {exc}") from None

    # --- expat, the whole sheet -------------------------------------------------------------

    def _parsed_rows(self, data: bytes) -> Iterator[tuple[int, Any]]:
        """The rows from the start of the sheet, ``data`` being what was read of it so far."""
        parser, done = self._rows.parser(), self._rows.done
        while data:
            parser.Parse(data, False)
            data = self._sheet.read(CHUNK)
            yield from self._as_kept(done)
            done.clear()
        parser.Parse(b"", True)
        yield from self._as_kept(done)

    def _as_kept(self, rows: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """``rows``, those parsed as dicts before ``keep`` was called turned into lists."""
        for line, cells in rows:
            if self._columns is not None and type(cells) is dict:
                cells = [cells.get(column) for column in self._columns]
            yield line, cells

    # --- the fast path ------------------------------------------------------------------------

    def _matched_rows(self) -> Iterator[tuple[int, Any]]:
        pending = self._sheet.read(CHUNK)
        if not _utf8(pending):
            yield from self._parsed_rows(pending)
            return
        while True:  # up to <sheetData>: the namespace prefix and where the rows start
            root = _ROOT.search(pending)
            if root:
                prefix = (root.group(1) or b"").decode("ascii") + (":" if root.group(1) else "")
                sheet_data, cell_pattern, row_tags = _patterns(prefix)
                opened = sheet_data.search(pending, root.end())
                if opened:
                    break
            if len(pending) > MAX_PENDING_BYTES:  # a long way to the rows: expat streams there
                yield from self._parsed_rows(pending)
                return
            chunk = self._sheet.read(CHUNK)
            if not chunk:
                raise XlsxUnreadable("no sheetData in the sheet")
            pending += chunk
        head = pending[: opened.start()]
        declaration = _DECLARATION.match(head)
        if b"<!" in head or b"<?" in head[declaration.end() if declaration else 0 :]:
            yield from self._parsed_rows(pending)  # a DOCTYPE (refused there) or a comment
            return
        if opened.group(1):  # <sheetData/>: no rows
            return
        pending = pending[opened.end() :]
        if b"<!" in pending or b"<?" in pending:
            yield from self._rest_by_expat(pending, prefix)
            return
        row_end = row_tags[2]
        while chunk := self._sheet.read(CHUNK):
            if b"<!" in chunk or b"<?" in chunk or (pending.endswith(b"<") and chunk[:1] in b"!?"):
                # a comment, CDATA or processing instruction: expat reads on from the last
                # row boundary (a "</row>" inside them would cut a row in two)
                yield from self._rest_by_expat(pending + chunk, prefix)
                return
            pending += chunk
            cut = pending.rfind(row_end)
            if cut >= 0:
                cut += len(row_end)
                yield from self._block_rows(pending[:cut], cell_pattern, row_tags, prefix)
                pending = pending[cut:]
            elif len(pending) > MAX_PENDING_BYTES:  # a row that long: expat streams through it
                yield from self._rest_by_expat(pending, prefix)
                return
        closed = pending.find(b"</%bsheetData>" % prefix.encode())
        if closed < 0:
            raise XlsxUnreadable("the sheet ends before its rows do")
        yield from self._block_rows(pending[:closed], cell_pattern, row_tags, prefix)

    def _rest_by_expat(self, data: bytes, prefix: str) -> Iterator[tuple[int, Any]]:
        """The rows from ``data`` (starting at a row boundary) to the end of the sheet."""
        parser, done = self._rows.parser(prefix=prefix), self._rows.done
        parser.Parse(b"<%(p)bworksheet><%(p)bsheetData>" % {b"p": prefix.encode()}, False)
        while data:
            parser.Parse(data, False)
            yield from self._as_kept(done)
            done.clear()
            data = self._sheet.read(CHUNK)
        parser.Parse(b"", True)
        yield from self._as_kept(done)
        done.clear()

    def _block_rows(
        self, block: bytes, cell_pattern: re.Pattern[bytes], row_tags: tuple[bytes, ...], prefix: str
    ) -> Iterator[tuple[int, Any]]:
        """The rows of ``block``, whole rows back to back. Its cells are matched all at once;
        every ``<`` in the block must then belong to a matched cell or a row tag (markup
        cannot hide elsewhere: no comment or CDATA, and text holds no ``<``), or the block
        goes to expat whole."""
        found = cell_pattern.findall(block)
        tags = len(found) + sum(block.count(tag) for tag in row_tags)
        for _, _, _, value, inline in found:
            tags += 3 if value else 5 if inline else 0  # <v></v></c> or <is><t></t></is></c>
        if tags != block.count(b"<"):
            yield from self._block_by_expat(block, prefix)
            return
        rows, strings = self._rows, self._rows.strings
        current, line, slot_of, cells = b"", 0, self._slot_of, None
        for letters, number, kind, value, inline in found:
            if number != current:
                if cells is not None:
                    rows.line = line
                    yield line, cells
                current, line, slot_of = number, int(number), self._slot_of
                cells = rows.new_cells()
            slot = slot_of[letters]
            if slot is None:
                continue
            if value:
                if not kind or kind == b"n":
                    value = int(value) if value.isdigit() else cell_value("n", value.decode(), strings)
                elif kind == b"s":
                    value = strings[int(value)]
                else:
                    value = cell_value(kind.decode(), value.decode("utf-8"), strings)
                cells[slot] = value
            elif inline:
                cells[slot] = inline.decode("utf-8")
        if cells is not None:
            rows.line = line
            yield line, cells

    def _block_by_expat(self, block: bytes, prefix: str) -> Iterator[tuple[int, Any]]:
        parser = self._rows.parser(prefix=prefix)
        parser.Parse(b"<rows>%b</rows>" % block, True)
        yield from self._as_kept(self._rows.done)
        self._rows.done.clear()
