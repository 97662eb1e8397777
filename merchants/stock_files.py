"""Reading stock files row by row: CSV (UTF-8 with or without BOM, UTF-16 with BOM, or
GBK/GB18030 as Excel saves it on Chinese Windows) and XLSX (``xlsx_reader``: the sheet's XML
streamed from the zip; openpyxl only writes: templates and exports).

Nothing is loaded whole into Python: a CSV is decoded through ``io.TextIOWrapper`` as it
is read (after one streaming pass that decides the encoding); an XLSX sheet is parsed as it
is unpacked, no row kept past its turn (only the shared strings, packed, are held). A
reader yields ``(line, sku_code, stock)`` with the raw cell values of the two columns;
judging them is the upload service's job.

``table_file_open`` reads any such file by the columns a caller names (the console's
tracking-number upload reads order number, carrier and tracking number with it);
``stock_file_open`` is it with the stock file's two columns.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import (
    StockFileBadEncoding,
    StockFileBadHeader,
    StockFileEmpty,
    StockFileRejected,
    StockFileTooLarge,
)
from .xlsx import SheetReader, XlsxTooLarge, XlsxUnreadable

SNIFF_CHUNK = 64 * 1024
XLSX_UNREADABLE = "The XLSX file is damaged or not really an XLSX workbook."
CODE_HEADERS = ("sku_code", "code", "sku", "商品编码", "sku编码", "编码", "货号")
STOCK_HEADERS = ("stock", "on_hand", "qty", "quantity", "库存", "库存数量", "数量")

Row = tuple[Any, ...]  # (line, cell of each wanted column...)
Column = tuple[str, tuple[str, ...]]  # (name shown in errors, header spellings accepted)
STOCK_COLUMNS: tuple[Column, ...] = (("sku_code", CODE_HEADERS), ("stock", STOCK_HEADERS))


@dataclass
class StockFile:
    file_format: str  # "csv" | "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "gbk" (GB18030) or "" for xlsx
    rows: Iterator[Row]


def _header_key(value: Any) -> str:
    return str(value or "").strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _columns(header: list[Any], line: int, wanted: Sequence[Column]) -> list[int]:
    keys = [_header_key(v) for v in header]
    found_at = [next((i for i, k in enumerate(keys) if k in aliases), None) for _, aliases in wanted]
    if any(at is None for at in found_at):
        found = ", ".join(str(v).strip() for v in header if str(v or "").strip()) or "nothing"
        names = " and ".join(name for name, _ in wanted)
        raise StockFileBadHeader(f"Line {line}: the header must name the columns {names} (found: {found}).")
    return found_at


def _blank(cells: list[Any] | tuple[Any, ...]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- CSV ------------------------------------------------------------------------------------


def _decodes(fileobj: IO[bytes], encoding: str) -> bool:
    """Whether the whole file decodes strictly, read in chunks (memory stays flat)."""
    fileobj.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        while chunk := fileobj.read(SNIFF_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        fileobj.seek(0)
    return True


def _csv_encoding(fileobj: IO[bytes], head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(fileobj, "utf-8"):
        return "utf-8"
    # Excel on Chinese Windows saves "CSV" in the ANSI code page, GBK; GB18030 is its superset.
    if _decodes(fileobj, "gb18030"):
        return "gb18030"
    raise StockFileBadEncoding()


def _csv_rows(fileobj: IO[bytes], encoding: str, wanted: Sequence[Column]) -> Iterator[Row]:
    text = io.TextIOWrapper(fileobj, encoding=encoding, errors="strict", newline="")
    skipped = 0  # blank lines before the header, which the csv reader does not see
    line = 0
    try:
        first = text.readline()
        while first and not first.strip():
            skipped += 1
            first = text.readline()
        if not first:
            raise StockFileEmpty()
        dialect = "excel-tab" if "\t" in first and "," not in first else "excel"
        reader = csv.reader(_chain_first(first, text), dialect=dialect)
        header = next(reader, [])
        line = reader.line_num + skipped
        at = _columns(header, line, wanted)
        width = max(at) + 1
        for cells in reader:
            line = reader.line_num + skipped
            if not "".join(cells).strip():  # a blank line (or only separators)
                continue
            if any("\x00" in cell for cell in cells):
                raise StockFileRejected(
                    f"Line {line}: the file holds binary data; upload a CSV or XLSX file."
                )
            cells = cells + [""] * (width - len(cells))
            yield (line, *(cells[i] for i in at))
    except csv.Error as exc:
        raise StockFileRejected(f"Line {line + 1}: the file is not a readable CSV ({exc}).") from None
    except UnicodeDecodeError:
        raise StockFileBadEncoding() from None
    finally:
        text.detach()  # the caller owns the file; do not close it


def _chain_first(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    for line in rest:  # noqa: UP028 - ``yield from`` would close the wrapper when this is closed
        yield line


# --- XLSX -----------------------------------------------------------------------------------


def _xlsx_rows(fileobj: IO[bytes], wanted: Sequence[Column]) -> Iterator[Row]:
    """The first sheet's rows, streamed from the zip (``xlsx_reader``): a row's line is its
    number in Excel; an empty cell is ``None``, a whole number an ``int``, other numbers a
    ``float`` (the upload reads whole floats as integers)."""
    try:
        reader = SheetReader(fileobj)
    except XlsxTooLarge as exc:
        raise StockFileTooLarge(f"The XLSX file unpacks to too much data: split it ({exc}).") from None
    except XlsxUnreadable:
        raise StockFileRejected(XLSX_UNREADABLE) from None
    try:
        rows = reader.rows()
        line, header = 0, None
        for line, cells in rows:  # noqa: B007 - line is the header's after the loop
            if cells and not _blank(list(cells.values())):
                header = [cells.get(column) for column in range(max(cells) + 1)]
                break
        if header is None:
            raise StockFileEmpty()
        at = _columns(header, line, wanted)
        reader.keep(at)
        for line, cells in rows:
            first = cells[0]  # filled in most rows: then the row is not blank, no need to look on
            if (first is None or (type(first) is str and not first.strip())) and _blank(cells):
                continue
            yield (line, *cells)
    except XlsxUnreadable:
        raise StockFileRejected(XLSX_UNREADABLE) from None
    finally:
        reader.close()


# --- Opening ----------------------------------------------------------------------------------


def stock_file_open(fileobj: IO[bytes], filename: str) -> StockFile:
    """A stock file: rows of ``(line, sku_code, stock)``."""
    return table_file_open(fileobj, filename, columns=STOCK_COLUMNS)


def table_file_open(fileobj: IO[bytes], filename: str, *, columns: Sequence[Column]) -> StockFile:
    """Rows of ``(line, *cells)`` for the named ``columns``, found by their header.

    Tell CSV from XLSX by content (not by name alone) and pick the CSV encoding.

    Raises ``StockFileRejected`` subclasses for files that cannot be used at all:
    empty, an old binary .xls, undecodable text. A bad header is found when the rows
    are first read.
    """
    fileobj.seek(0)
    head = fileobj.read(8)
    fileobj.seek(0)
    if not head:
        raise StockFileEmpty()
    if head.startswith(b"PK\x03\x04"):
        return StockFile(file_format="xlsx", encoding="", rows=_xlsx_rows(fileobj, columns))
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise StockFileRejected("Old Excel .xls files are not supported: save it as .xlsx or CSV.")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise StockFileRejected(XLSX_UNREADABLE)
    encoding = _csv_encoding(fileobj, head)
    if b"\x00" in head and encoding not in ("utf-16",):
        raise StockFileRejected("This is not a text file: upload a CSV or XLSX file.")
    shown = "gbk" if encoding == "gb18030" else encoding
    return StockFile(file_format="csv", encoding=shown, rows=_csv_rows(fileobj, encoding, columns))
