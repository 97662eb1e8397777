"""The first sheet of an XLSX workbook, streamed row by row straight from the zip.

The sheet's XML is decompressed in chunks and parsed by expat (the C parser in the standard
library) as it arrives: no cell is kept past its row, so memory stays flat whatever the
file's length (python-calamine, used before, held the whole sheet in Rust: 18.8 MB of peak
RSS growth for 100,000 rows against 9.7 MB for the same file as CSV, bench/RESULTS.md).
Shared strings are loaded once, packed into a few long strings (about two bytes a
character, not a Python object each).

A cell comes out as Excel stores it: a shared or inline string or a formula's text result
as ``str``, a number as ``int`` when it is written as a whole number and ``float``
otherwise, a boolean as ``bool``, an error (``#N/A``) and an ISO date (``t="d"``) as their
text, an empty or missing cell as ``None``. Date-formatted numbers stay numbers (the files
read here have no dates). Rows and columns are placed by their ``r`` references (``B7``),
so skipped columns and rows keep their places; a cell or row without one follows the one
before it.

What makes a file unusable raises ``XlsxUnreadable`` (not a zip, no sheet, broken XML, a
DOCTYPE, a bad reference) or ``XlsxTooLarge`` (a part that unpacks past its limit: a zip
bomb is refused from the sizes the zip declares before anything is unpacked, and a part
that lies about its size fails its length check in ``zipfile``).
"""

from __future__ import annotations

import posixpath
import zipfile
from array import array
from collections.abc import Iterator
from typing import IO, Any
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 64 * 1024
MAX_SHEET_BYTES = 512 * 1024 * 1024  # unpacked; 200,000 rows of 30 columns fit well within
MAX_SHARED_BYTES = 64 * 1024 * 1024  # unpacked; its strings are what this reader keeps
MAX_SMALL_PART_BYTES = 4 * 1024 * 1024  # workbook.xml and its relationships
MAX_COLUMN = 16_384  # XFD, Excel's last column
STRINGS_PER_PACK = 1024
DIGITS = "0123456789"

_C, _V, _T, _IS, _ROW, _RPH = (f"{MAIN} {tag}" for tag in ("c", "v", "t", "is", "row", "rPh"))
_SI, _SHEET = f"{MAIN} si", f"{MAIN} sheet"


class XlsxUnreadable(Exception):
    """Not a workbook this reader can read."""


class XlsxTooLarge(XlsxUnreadable):
    """A part of the workbook unpacks past its limit."""


class _ColumnNumbers(dict):
    """``"A"`` → 0, ``"AB"`` → 27, computed once per column letters."""

    def __missing__(self, letters: str) -> int:
        if not letters or not letters.isascii() or not letters.isalpha() or len(letters) > 3:
            raise XlsxUnreadable(f"bad cell reference column {letters[:10]!r}")
        number = 0
        for letter in letters.upper():
            number = number * 26 + ord(letter) - 64
        if number > MAX_COLUMN:
            raise XlsxUnreadable(f"column {letters} is past Excel's last")
        self[letters] = number - 1
        return number - 1


class SharedStrings:
    """The workbook's shared strings, packed: ``STRINGS_PER_PACK`` strings joined into one
    ``str`` and an array of where each ends."""

    def __init__(self) -> None:
        self._packs: list[str] = []
        self._ends = array("I")
        self._pending: list[str] = []
        self._length = 0

    def append(self, text: str) -> None:
        self._length = 0 if not self._pending else self._length
        self._pending.append(text)
        self._length += len(text)
        self._ends.append(self._length)
        if len(self._pending) == STRINGS_PER_PACK:
            self._packs.append("".join(self._pending))
            self._pending = []

    def close(self) -> None:
        if self._pending:
            self._packs.append("".join(self._pending))
            self._pending = []

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError("negative shared string index")
        pack = self._packs[index // STRINGS_PER_PACK]  # IndexError for an index past the end
        start = self._ends[index - 1] if index % STRINGS_PER_PACK else 0
        return pack[start : self._ends[index]]


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True

    def refuse_doctype(*_: Any) -> None:  # no DTD, so no entity expansion (billion laughs)
        raise XlsxUnreadable("a DOCTYPE in a workbook part")

    parser.StartDoctypeDeclHandler = refuse_doctype
    return parser


def _open_part(archive: zipfile.ZipFile, name: str, limit: int) -> IO[bytes]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise XlsxUnreadable(f"no part {name}") from None
    if info.file_size > limit:
        raise XlsxTooLarge(f"{name} unpacks to {info.file_size:,} bytes (at most {limit:,})")
    return archive.open(info)


def _parse_part(archive: zipfile.ZipFile, name: str, limit: int, parser: expat.XMLParserType) -> None:
    with _open_part(archive, name, limit) as part:
        while chunk := part.read(CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def _relationships(archive: zipfile.ZipFile, name: str) -> dict[str, tuple[str, str]]:
    """``{id: (type, target path in the zip)}`` of a part's relationships."""
    folder, base = posixpath.split(name)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    found: dict[str, tuple[str, str]] = {}
    if rels_name not in archive.NameToInfo:
        return found
    parser = _parser()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == f"{PKG_REL} Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[attrs.get("Id", "")] = (attrs.get("Type", ""), posixpath.normpath(path))

    parser.StartElementHandler = start
    _parse_part(archive, rels_name, MAX_SMALL_PART_BYTES, parser)
    return found


def _first_sheet_and_strings(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first sheet's part name (workbook order) and the shared strings' part name."""
    workbook = next(
        (target for kind, target in _relationships(archive, "").values() if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    sheet_ids: list[str] = []
    parser = _parser()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == _SHEET:
            sheet_ids.append(attrs.get(f"{REL} id", ""))

    parser.StartElementHandler = start
    _parse_part(archive, workbook, MAX_SMALL_PART_BYTES, parser)
    if not sheet_ids:
        raise XlsxUnreadable("the workbook has no sheet")
    rels = _relationships(archive, workbook)
    sheet = rels.get(sheet_ids[0], ("", ""))[1]
    strings = next((target for kind, target in rels.values() if kind.endswith("/sharedStrings")), None)
    return sheet, strings


def _shared_strings(archive: zipfile.ZipFile, name: str | None) -> SharedStrings:
    strings = SharedStrings()
    if name is None or name not in archive.NameToInfo:
        strings.close()
        return strings
    parser = _parser()
    parts: list[str] = []
    collecting = False
    phonetic = 0

    def start(tag: str, _attrs: dict[str, str]) -> None:
        nonlocal collecting, phonetic
        if tag == _T:
            collecting = not phonetic
        elif tag == _SI:
            parts.clear()
        elif tag == _RPH:  # a phonetic guide's reading is not part of the text
            phonetic += 1

    def end(tag: str) -> None:
        nonlocal collecting, phonetic
        if tag == _T:
            collecting = False
        elif tag == _SI:
            strings.append("".join(parts))
        elif tag == _RPH:
            phonetic -= 1

    def text(data: str) -> None:
        if collecting:
            parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    _parse_part(archive, name, MAX_SHARED_BYTES, parser)
    strings.close()
    return strings


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


class SheetReader:
    """``rows()`` yields ``(line, cells)``: the row's number in Excel and its cells as a
    ``{column: value}`` dict (column 0 is A), or, once ``keep(columns)`` is called, a list of
    those columns' values in that order (``None`` for an empty cell)."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        try:
            self._archive = zipfile.ZipFile(fileobj)
            sheet, strings = _first_sheet_and_strings(self._archive)
            self._strings = _shared_strings(self._archive, strings)
            self._sheet = _open_part(self._archive, sheet, MAX_SHEET_BYTES)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
            raise XlsxUnreadable(str(exc)) from None
        except expat.ExpatError as exc:
            raise XlsxUnreadable(f"broken XML: {exc}") from None
        self._slots: dict[int, int] | None = None
        self._columns: list[int] | None = None

    def keep(self, columns: list[int]) -> None:
        """From the next row on, only ``columns`` (0 is A), as a list in this order."""
        self._columns = list(columns)
        self._slots = {column: slot for slot, column in enumerate(columns)}

    def close(self) -> None:
        self._sheet.close()
        self._archive.close()

    def rows(self) -> Iterator[tuple[int, Any]]:
        try:
            yield from self._rows()
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, IndexError) as exc:
            raise XlsxUnreadable(f"{type(exc).__name__}: {exc}") from None
        except expat.ExpatError as exc:
            raise XlsxUnreadable(f"broken XML: {exc}") from None

    def _rows(self) -> Iterator[tuple[int, Any]]:  # noqa: C901 - one state machine, kept in one place
        strings = self._strings
        numbers = _ColumnNumbers()
        done: list[tuple[int, Any]] = []
        line = 0
        column = -1
        kind = "n"
        slot: int | None = None
        cells: Any = {}
        text: str | None = None  # the cell's value text, None until <v> or <t> starts
        collecting = False
        in_inline = False
        phonetic = 0

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal line, column, kind, slot, text, collecting, in_inline, phonetic, cells
            if tag == _C:
                ref = attrs.get("r")
                column = numbers[ref.rstrip(DIGITS)] if ref else column + 1
                slot = column if self._slots is None else self._slots.get(column)
                kind = attrs.get("t", "n")
                text = None
            elif tag == _V:
                if slot is not None:
                    collecting, text = True, ""
            elif tag == _T:
                if in_inline and slot is not None and not phonetic:
                    collecting = True
                    text = text or ""
            elif tag == _ROW:
                ref = attrs.get("r")
                line = int(ref) if ref else line + 1
                column = -1
                cells = {} if self._slots is None else [None] * len(self._slots)
            elif tag == _IS:
                in_inline = True
            elif tag == _RPH:
                phonetic += 1

        def end(tag: str) -> None:
            nonlocal collecting, in_inline, phonetic
            if tag == _C:
                if slot is None or text is None:
                    return
                if kind == "n":
                    value: Any = _number(text) if text.strip() else None
                elif kind == "s":
                    value = strings[int(text)]
                elif kind == "b":
                    value = text.strip() == "1"
                else:  # inlineStr, str (a formula's text), e (an error), d (an ISO date)
                    value = text
                cells[slot] = value
            elif tag == _V or tag == _T:
                collecting = False
            elif tag == _ROW:
                done.append((line, cells))
            elif tag == _IS:
                in_inline = False
            elif tag == _RPH:
                phonetic -= 1

        def characters(data: str) -> None:
            nonlocal text
            if collecting:
                text += data

        parser = _parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = characters
        read = self._sheet.read
        while chunk := read(CHUNK):
            parser.Parse(chunk, False)
            if done:
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
