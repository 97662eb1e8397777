"""The streamed XLSX reader (merchants/xlsx): the shapes Excel, WPS and openpyxl write, read
the same by the fast path and by expat; what is not a usable workbook refused."""

import io
import zipfile

import pytest
from openpyxl import Workbook

from merchants.errors import StockFileRejected, StockFileTooLarge
from merchants.stock_files import stock_file_open
from merchants.xlsx import SheetReader, XlsxUnreadable
from merchants.xlsx import package as xlsx_package
from merchants.xlsx import sheet as xlsx_sheet
from shop.testing.xlsx import excel_workbook, shared_strings_xml, sheet_xml, workbook_bytes

HEADER = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>sku_code</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>stock</t></is></c></row>'
)


def read(content: bytes) -> list[tuple]:
    return list(stock_file_open(io.BytesIO(content), "stock.xlsx").rows)


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_shared_and_inline_strings_read_alike():
    rows = [["sku_code", "stock"], ["VD-24", 5], ["抽纸-大包", 0]]
    openpyxl_book = Workbook(write_only=True)
    sheet = openpyxl_book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    openpyxl_book.save(out)

    assert read(excel_workbook(rows)) == read(out.getvalue()) == [(2, "VD-24", 5), (3, "抽纸-大包", 0)]


def test_sparse_cells_and_rows_keep_their_places():
    rows = (
        '<row r="3"><c r="B3" t="inlineStr"><is><t>stock</t></is></c>'
        '<c r="D3" t="inlineStr"><is><t>sku</t></is></c></row>'
        '<row r="4"><c r="D4" t="inlineStr"><is><t>VD-12</t></is></c></row>'  # no stock
        '<row r="7" spans="2:4"><c r="B7"><v>9</v></c><c r="C7" s="2"/>' + inline("D7", "VD-24") + "</row>"
        '<row r="8"><c r="B8" s="1"/></row>'  # styled, empty: skipped
        '<row r="9"/>' + f'<row r="30">{inline("A30", "ignored")}<c r="B30"><v>1</v></c></row>'
    )

    assert read(workbook_bytes(sheet_xml(rows))) == [(4, "VD-12", None), (7, "VD-24", 9), (30, None, 1)]


def test_numbers_typed_as_text_stay_text_and_numbers_come_as_numbers():
    rows = (
        HEADER
        + f'<row r="2">{inline("A2", "10086")}{inline("B2", "007")}</row>'
        + '<row r="3"><c r="A3"><v>10087</v></c><c r="B3" t="n"><v>2.5</v></c></row>'
        + '<row r="4"><c r="A4"><v>1E+3</v></c><c r="B4" t="b"><v>1</v></c></row>'
    )

    assert read(workbook_bytes(sheet_xml(rows))) == [(2, "10086", "007"), (3, 10087, 2.5), (4, 1000.0, True)]


# Each row needs expat (the fast path's pattern does not know its shape); the same rows
# must come out, in order, from a sheet the fast path reads around them.
ODD_ROWS = [
    (
        '<row r="2"><c r="A2" t="str"><f>"VD-"&amp;"24"</f><v>VD-24</v></c>'
        '<c r="B2"><f>2+3</f><v>5</v></c></row>',
        (2, "VD-24", 5),
    ),
    (
        '<row r="3"><c r="A3" t="inlineStr"><is><r><t>VD</t></r><r><rPr><b/></rPr><t>-12</t></r></is></c>'
        '<c r="B3"><v>1</v></c></row>',
        (3, "VD-12", 1),
    ),
    (f'<row r="4">{inline("A4", "A&amp;B &lt;1&gt;")}<c r="B4"><v>2</v></c></row>', (4, "A&B <1>", 2)),
    (f"<row>{inline('A5', 'no-refs')}<c><v>3</v></c></row>", (5, "no-refs", 3)),
    (
        f'<row r="6" ht="20" customHeight="1">{inline("A6", "x")}<c r="B6" t="e"><v>#N/A</v></c></row>',
        (6, "x", "#N/A"),
    ),
    (f'<row r="7">{inline("A7", "")}<c r="B7"><v></v></c></row>', None),  # empty values: a blank row
    (f'<row r="8">{inline("A8", "VD-08")}<c r="B8"><v>8</v></c></row>', (8, "VD-08", 8)),
]


@pytest.mark.parametrize("chunk", [64 * 1024, 50])  # 50 bytes: a block of a row or two at a time
@pytest.mark.parametrize("comment_at", [None, 0, 3])
@pytest.mark.parametrize("prefix", ["", "x"])
def test_rows_of_any_shape_read_the_same_by_the_fast_path_and_by_expat(
    monkeypatch, prefix, comment_at, chunk
):
    monkeypatch.setattr("merchants.xlsx.sheet.CHUNK", chunk)
    xml_rows = [row for row, _ in ODD_ROWS]
    if comment_at is not None:  # a comment hands the rest of the sheet to expat
        xml_rows.insert(comment_at, "<!-- a row was here: </row> -->")
    body = HEADER + "".join(xml_rows)
    if prefix:
        body = (
            body.replace("<", f"<{prefix}:")
            .replace(f"<{prefix}:/", f"</{prefix}:")
            .replace(f"<{prefix}:!", "<!")
        )

    rows = read(workbook_bytes(sheet_xml(body, prefix=prefix)))

    assert rows == [expected for _, expected in ODD_ROWS if expected]


def test_shared_strings_with_rich_text_and_phonetic_guides_are_read_by_expat():
    strings = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><si><t>sku_code</t></si><si><t>stock</t></si>'
        '<si><r><t>VD</t></r><r><t>-24</t></r><rPh sb="0" eb="1"><t>ぶい</t></rPh></si>'
        '<si><t xml:space="preserve"> 抽纸 </t></si></sst>'
    )
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>4</v></c></row>'
        '<row r="3"><c r="A3" t="s"><v>3</v></c><c r="B3"><v>5</v></c></row>'
    )

    assert read(workbook_bytes(sheet_xml(rows), strings)) == [(2, "VD-24", 4), (3, " 抽纸 ", 5)]


def test_many_shared_strings_are_packed_and_found_by_index():
    codes = [f"库存-{i:06d}" for i in range(3_000)]  # three packs of 1,024 and a bit

    rows = read(excel_workbook([["sku_code", "stock"], *([code, n] for n, code in enumerate(codes))]))

    assert rows[0] == (2, "库存-000000", 0)
    assert rows[2_047] == (2_049, "库存-002047", 2_047)
    assert [code for _, code, _ in rows] == codes


def test_a_sheet_in_utf16_is_read_by_expat():
    sheet = sheet_xml(HEADER + f'<row r="2">{inline("A2", "VD-24")}<c r="B2"><v>5</v></c></row>')
    utf16 = sheet.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")

    assert read(workbook_bytes(utf16)) == [(2, "VD-24", 5)]


def _archive(parts: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def _shrink_declared_size(content: bytes, name: bytes) -> bytes:
    """The zip's central directory says ``name`` unpacks to 10 bytes: a lying zip bomb."""
    at = 0
    while True:
        at = content.index(b"PK\x01\x02", at)
        name_length = int.from_bytes(content[at + 28 : at + 30], "little")
        if content[at + 46 : at + 46 + name_length] == name:
            return content[: at + 24] + (10).to_bytes(4, "little") + content[at + 28 :]
        at += 4


def _corrupt_sheet_data(content: bytes) -> bytes:
    """Bytes flipped in the middle of the sheet's deflate stream."""
    at = content.index(b"xl/worksheets/sheet1.xml") + 200
    return content[:at] + bytes(b ^ 0x5A for b in content[at : at + 40]) + content[at + 40 :]


LONG_SHEET = sheet_xml(
    HEADER
    + "".join(
        f'<row r="{n}">{inline(f"A{n}", f"VD-{n}")}<c r="B{n}"><v>{n}</v></c></row>' for n in range(2, 400)
    )
)

BAD_FILES = {
    "a broken deflate stream": _corrupt_sheet_data(workbook_bytes(LONG_SHEET)),
    "a zip without a workbook": _archive({"readme.txt": "hello"}),
    "a workbook without a sheet": _archive({"xl/workbook.xml": '<workbook xmlns="x"><sheets/></workbook>'}),
    "broken XML in the sheet": workbook_bytes(sheet_xml(HEADER + '<row r="2"><c r="A2"><v>1</v></row>')),
    "a sheet cut short": workbook_bytes(sheet_xml(HEADER)[:-60]),
    "a DOCTYPE (entity expansion)": workbook_bytes(
        '<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>'
    ),
    "a shared string index past the end": workbook_bytes(
        sheet_xml('<row r="1"><c r="A1" t="s"><v>7</v></c></row>'), shared_strings_xml(["sku_code"])
    ),
    "a bad cell reference": workbook_bytes(
        sheet_xml('<row r="1"><c r="A1B"><v>1</v></c><c r="1"><v>1</v></c></row>')
    ),
    "a column past XFD": workbook_bytes(sheet_xml('<row r="1"><c r="XFE1"><v>1</v></c></row>')),
    "a zip lying about its sheet's size": _shrink_declared_size(
        workbook_bytes(sheet_xml(HEADER + '<row r="2"><c r="A2"><v>1</v></c></row>')),
        b"xl/worksheets/sheet1.xml",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_files_that_are_not_usable_workbooks_are_refused(name):
    with pytest.raises(StockFileRejected) as refused:
        read(BAD_FILES[name])

    assert refused.value.code == "upload_unreadable"


def test_a_sheet_declared_past_the_limit_is_refused_before_unpacking(monkeypatch):
    monkeypatch.setattr("merchants.xlsx.sheet.MAX_SHEET_BYTES", 10_000)
    body = HEADER + "".join(
        f'<row r="{n}">{inline(f"A{n}", "VD-24")}<c r="B{n}"><v>1</v></c></row>' for n in range(2, 200)
    )
    content = workbook_bytes(sheet_xml(body))
    opened = []
    zip_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **kw: opened.append(name) or zip_open(self, name, *a, **kw),
    )

    with pytest.raises(StockFileTooLarge) as refused:
        read(content)

    assert refused.value.code == "upload_too_large"
    assert "unpacks to" in refused.value.message
    assert "xl/worksheets/sheet1.xml" not in [getattr(name, "filename", name) for name in opened]


def test_what_excel_and_openpyxl_write_is_read_without_expat(monkeypatch):
    openpyxl_book = Workbook(write_only=True)
    sheet = openpyxl_book.create_sheet()
    for row in [["sku_code", "stock"], ["VD-24", 5], [10086, 7.0]]:
        sheet.append(row)
    out = io.BytesIO()
    openpyxl_book.save(out)
    monkeypatch.setattr("merchants.xlsx.cells.Rows.parser", lambda *a, **kw: 1 / 0)

    assert read(out.getvalue()) == [(2, "VD-24", 5), (3, 10086, 7)]
    assert read(excel_workbook([["sku_code", "stock"], ["VD-24", 5]])) == [(2, "VD-24", 5)]


def test_the_reader_keeps_only_the_columns_asked_for():
    reader = SheetReader(io.BytesIO(excel_workbook([["a", "b", "c"], [1, 2, 3], [4, None, 6]])))
    rows = reader.rows()

    assert next(rows) == (1, {0: "a", 1: "b", 2: "c"})
    reader.keep([2, 0])
    assert list(rows) == [(2, [3, 1]), (3, [6, 4])]
    reader.close()


def test_not_a_zip_at_all_is_unreadable():
    with pytest.raises(XlsxUnreadable):
        SheetReader(io.BytesIO(b"PK\x03\x04 not really a zip"))


@pytest.mark.parametrize(
    ("module", "owner", "expat_path"),
    [
        (xlsx_sheet, SheetReader, "_parsed_rows"),  # a long way to the first row
        (xlsx_sheet, SheetReader, "_rest_by_expat"),  # a long row
        (xlsx_package, xlsx_package, "_matched_shared_strings"),  # a long shared string: None
    ],
)
def test_xml_longer_than_the_pending_limit_is_streamed_by_expat(monkeypatch, module, owner, expat_path):
    long_code = "库存-" + "长" * 200  # 600 bytes
    rows = [["sku_code", "stock"], ["VD-24", 5], [long_code, 7], ["VD-12", 0]]
    if expat_path == "_rest_by_expat":  # inline strings: the head (about 200 bytes) fits, the row not
        body = "".join(
            f'<row r="{n}">{inline(f"A{n}", code)}<c r="B{n}"><v>{stock}</v></c></row>'
            for n, (code, stock) in enumerate(rows[1:], start=2)
        )
        content, limit = workbook_bytes(sheet_xml(HEADER + body)), 400
    else:
        content, limit = excel_workbook(rows), 100
    monkeypatch.setattr(module, "MAX_PENDING_BYTES", limit)
    monkeypatch.setattr(xlsx_sheet, "CHUNK", 64)
    monkeypatch.setattr(xlsx_package, "CHUNK", 64)
    original, called = getattr(owner, expat_path), []

    def spy(*args, **kwargs):
        called.append(result := original(*args, **kwargs))
        return result

    monkeypatch.setattr(owner, expat_path, spy)

    assert read(content) == [(2, "VD-24", 5), (3, long_code, 7), (4, "VD-12", 0)]
    assert called
    if owner is xlsx_package:
        assert called == [None]  # the regular expression gave up: expat read them


def test_a_cell_longer_than_excel_allows_is_refused():
    long = "x" * 40_000
    sheet = sheet_xml(HEADER + f'<row r="2">{inline("A2", "A&amp;" + long)}<c r="B2"><v>1</v></c></row>')

    with pytest.raises(StockFileRejected):
        read(workbook_bytes(sheet))
