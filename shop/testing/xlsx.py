"""XLSX workbooks written by hand, part by part, for tests and benches: the shapes openpyxl
never writes (shared strings as Excel saves them, sparse cells, a namespace prefix, a
formula, rich text, a comment) made exactly."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
ROOT_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="库存" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)


def column_letters(index: int) -> str:
    """0 → A, 27 → AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def shared_strings_xml(strings: Iterable[str]) -> str:
    items = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    return f'{DECLARATION}<sst xmlns="{MAIN}">{items}</sst>'


def sheet_xml(rows_xml: str, *, prefix: str = "") -> str:
    """A worksheet around ``rows_xml`` (the ``<row>`` elements, written with ``prefix``)."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    return (
        f'{DECLARATION}<{p}worksheet {xmlns}><{p}dimension ref="A1"/>'
        f'<{p}sheetData>{rows_xml}</{p}sheetData><{p}pageMargins left="0.7"/></{p}worksheet>'
    )


def workbook_bytes(sheet: str, shared_strings: str | None = None) -> bytes:
    """A workbook with one sheet (its whole XML) and, if given, the shared strings' XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            archive.writestr("xl/sharedStrings.xml", shared_strings)
    return out.getvalue()


def excel_workbook(rows: Iterable[Iterable[object]]) -> bytes:
    """``rows`` as Excel saves them: every string shared, numbers as ``<v>``, a style on
    each cell, ``spans`` on each row."""
    strings: dict[str, int] = {}
    parts = []
    for number, row in enumerate(rows, start=1):
        cells = []
        for column, value in enumerate(row):
            ref = f"{column_letters(column)}{number}"
            if value is None:
                continue
            if isinstance(value, str):
                index = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}" s="1" t="s"><v>{index}</v></c>')
            else:
                cells.append(f'<c r="{ref}" s="1"><v>{value}</v></c>')
        parts.append(f'<row r="{number}" spans="1:2">{"".join(cells)}</row>')
    return workbook_bytes(sheet_xml("".join(parts)), shared_strings_xml(strings))
