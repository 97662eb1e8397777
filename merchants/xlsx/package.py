"""An XLSX workbook's package: its zip, the parts' size limits, the first sheet's part and
the shared strings (loaded once, packed into a few long strings: about two bytes a
character, not a Python object each).

A part whose declared unpacked size is past its limit is refused before anything is
unpacked (``XlsxTooLarge``: a zip bomb); a part that lies about its size fails
``zipfile``'s length and CRC checks (``XlsxUnreadable``). Every XML part is parsed by expat
with DOCTYPEs refused, so no entity is ever expanded.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from array import array
from itertools import accumulate
from typing import IO, Any
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CHUNK = 64 * 1024
MAX_SHEET_BYTES = 512 * 1024 * 1024  # unpacked; 200,000 rows of 30 columns fit well within
MAX_SHARED_BYTES = 64 * 1024 * 1024  # unpacked; its strings are what this reader keeps
MAX_SMALL_PART_BYTES = 4 * 1024 * 1024  # workbook.xml and its relationships
STRINGS_PER_PACK = 1024
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell's text
MAX_PENDING_BYTES = 4 * 1024 * 1024  # unpacked XML held at once waiting for an element's end

_T, _SI, _RPH, _SHEET = (f"{MAIN} {tag}" for tag in ("t", "si", "rPh", "sheet"))


class XlsxUnreadable(Exception):
    """Not a workbook this reader can read."""


class XlsxTooLarge(XlsxUnreadable):
    """A part of the workbook unpacks past its limit."""


class SharedStrings:
    """The workbook's shared strings, packed: ``STRINGS_PER_PACK`` strings joined into one
    ``str`` and an array of where each ends."""

    def __init__(self) -> None:
        self._packs: list[str] = []
        self._ends = array("I")
        self._pending: list[str] = []
        self._length = 0

    def append(self, text: str) -> None:
        self.extend([text])

    def extend(self, texts: list[str]) -> None:
        at = 0
        while at < len(texts):
            room = STRINGS_PER_PACK - len(self._pending)
            part = texts[at : at + room]
            ends = accumulate(map(len, part), initial=self._length if self._pending else 0)
            next(ends)  # the start of the first
            self._ends.extend(ends)
            self._length = self._ends[-1]
            self._pending.extend(part)
            if len(self._pending) == STRINGS_PER_PACK:
                self._packs.append("".join(self._pending))
                self._pending = []
            at += room

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


def xml_parser(*, namespaces: bool = True) -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ") if namespaces else expat.ParserCreate()
    parser.buffer_text = True

    def refuse_doctype(*_: Any) -> None:  # no DTD, so no entity expansion (billion laughs)
        raise XlsxUnreadable("a DOCTYPE in a workbook part")

    parser.StartDoctypeDeclHandler = refuse_doctype
    return parser


def open_part(archive: zipfile.ZipFile, name: str, limit: int) -> IO[bytes]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise XlsxUnreadable(f"no part {name}") from None
    if info.file_size > limit:
        raise XlsxTooLarge(f"{name} unpacks to {info.file_size:,} bytes (at most {limit:,})")
    return archive.open(info)


def _parse_part(archive: zipfile.ZipFile, name: str, limit: int, parser: expat.XMLParserType) -> None:
    with open_part(archive, name, limit) as part:
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
    parser = xml_parser()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == f"{PKG_REL} Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[attrs.get("Id", "")] = (attrs.get("Type", ""), posixpath.normpath(path))

    parser.StartElementHandler = start
    _parse_part(archive, rels_name, MAX_SMALL_PART_BYTES, parser)
    return found


def first_sheet_and_strings(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first sheet's part name (workbook order) and the shared strings' part name."""
    workbook = next(
        (target for kind, target in _relationships(archive, "").values() if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    sheet_ids: list[str] = []
    parser = xml_parser()

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


_SST_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sst(?:\s[^>]*)?>")


def _matched_shared_strings(part: IO[bytes]) -> SharedStrings | None:
    """The shared strings when each is one plain ``<si><t>text</t></si>`` (Excel's way for
    text without formatting), matched by a regular expression; ``None`` when any is not
    (every ``<`` must belong to a match), and expat reads the part instead."""
    strings = SharedStrings()
    pending = part.read(CHUNK)
    while (root := _SST_ROOT.search(pending)) is None and len(pending) < MAX_PENDING_BYTES:
        if not (chunk := part.read(CHUNK)):
            return None
        pending += chunk
    if root is None or b"<!" in pending[: root.start()] or pending.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    p = (root.group(1) + b":") if root.group(1) else b""
    item = re.compile(
        (rb'<%(p)bsi><%(p)bt(?: xml:space="preserve")?>([^<&\r]+)</%(p)bt></%(p)bsi>' % {b"p": p}).decode()
    )
    item_end, sst_end = b"</%bsi>" % p, b"</%bsst>" % p
    pending = pending[root.end() :]
    while chunk := part.read(CHUNK):
        pending += chunk
        cut = pending.rfind(item_end)
        if cut < 0:
            if len(pending) > MAX_PENDING_BYTES:
                return None
            continue
        cut += len(item_end)
        block, pending = pending[:cut], pending[cut:]
        found = item.findall(block.decode("utf-8"))
        if block.count(b"<") != 4 * len(found):
            return None
        strings.extend(found)
    if pending.strip() != sst_end:
        return None
    strings.close()
    return strings


def shared_strings(archive: zipfile.ZipFile, name: str | None) -> SharedStrings:
    if name is None or name not in archive.NameToInfo:
        strings = SharedStrings()
        strings.close()
        return strings
    with open_part(archive, name, MAX_SHARED_BYTES) as part:
        matched = _matched_shared_strings(part)
    if matched is not None:
        return matched
    strings = SharedStrings()
    parser = xml_parser()
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
            if len(parts) > 1 and sum(map(len, parts)) > MAX_CELL_CHARS:
                raise XlsxUnreadable(f"a shared string longer than {MAX_CELL_CHARS:,} characters")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    _parse_part(archive, name, MAX_SHARED_BYTES, parser)
    strings.close()
    return strings
