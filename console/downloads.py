"""Tables the console hands out as files: CSV (UTF-8 with a BOM, so Excel on Chinese Windows
reads it) or XLSX (openpyxl, write-only mode: rows go straight to the zip, not kept as cells).

Cells come from buyers and merchants (an address, a product title), and a spreadsheet runs a
cell starting with ``=`` (and, in a CSV, ``+``, ``-``, ``@``) as a formula: such text is
written with a leading apostrophe, which spreadsheets show as plain text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from django.http import HttpResponse, StreamingHttpResponse

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value, starts: tuple[str, ...]):
    if isinstance(value, str) and value.startswith(starts):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow([_safe(cell, _CSV_FORMULA_START) for cell in row])


def table_download(
    *, filename_stem: str, header: Sequence[str], rows: Iterable[Sequence], file_format: str
) -> HttpResponse | StreamingHttpResponse:
    """A download of ``header`` and ``rows`` as ``<filename_stem>.csv`` or ``.xlsx``."""
    disposition = f'attachment; filename="{filename_stem}.{file_format}"'
    if file_format == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(list(header))
        for row in rows:
            sheet.append([_safe(cell, ("=",)) for cell in row])  # openpyxl writes "=…" as a formula
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    else:
        response = StreamingHttpResponse(_csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = disposition
    return response
