"""Bulk stock upload: a CSV or XLSX of ``sku_code, stock`` sets absolute on-hand quantities.

How it runs, and why:
1. **Check** (no locks, no writes): rows are streamed from the file; every few
   thousand rows the codes are looked up in one query. Good rows are kept as three
   ``array('q')`` columns (sku id, stock, line), 24 bytes a row; bad rows go to a
   bounded error list (line and reason). Nothing else of the file stays in memory.
2. **Duplicates**: good rows are sorted by (sku id, line). A code given twice is the
   same SKU twice, so duplicates sit side by side: the first line wins, later ones are
   reported. The sort also puts the rows in sku-id order for step 3.
3. **Apply** (unless ``dry_run``): one transaction, batches of ``APPLY_BATCH`` rows in
   ascending id order (``sku_set_on_hand_many``: lock in id order, one
   ``UPDATE ... FROM (VALUES ...)``), so an upload never deadlocks with checkouts.
   Only ``on_hand`` changes; ``reserved`` is never touched. Re-uploading the same file
   changes nothing.

Good rows apply even when other rows are bad — the one place where a request applies
part of its input, by design: the merchant fixes the bad rows and uploads again. A file
that cannot be used at all (empty, wrong header, unreadable, wrong encoding, too big) is
refused as a whole with 400 and nothing applied. Every upload, refused ones included,
leaves a ``StockUpload`` row for the audit trail.
"""

from __future__ import annotations

import heapq
import re
import time
from array import array
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction

from products.selectors import sku_codes_of_others, sku_ids_by_code
from products.services import STOCK_MAX, sku_set_on_hand_many

from ..errors import StockFileEmpty, StockFileRejected, StockFileTooLarge
from ..models import StockUpload
from ..roles import CATALOG, staff_require_role
from ..stock_files import stock_file_open

MAX_ROWS = 200_000  # per file; more is split by the merchant (and bounds a zip-bombed XLSX)
MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS_KEPT = 1_000  # the first bad lines are stored and returned; all are counted
LOOKUP_BATCH = 5_000  # codes per lookup query
APPLY_BATCH = 5_000  # rows per UPDATE
CODE_MAX_LENGTH = 64
_INTEGER = re.compile(r"^\+?\d+$")


class RowError:
    UNKNOWN_SKU = "unknown_sku"
    OTHER_MERCHANT_SKU = "other_merchant_sku"  # shown to the merchant as unknown_sku
    MISSING_CODE = "missing_code"
    MISSING_STOCK = "missing_stock"
    NEGATIVE_STOCK = "negative_stock"
    NOT_INTEGER = "not_integer"
    TOO_LARGE = "stock_too_large"
    DUPLICATE_CODE = "duplicate_code"


@dataclass
class _Errors:
    """Counts every bad row; keeps the ``cap`` with the lowest line numbers."""

    cap: int
    count: int = 0
    _heap: list[tuple[int, int, dict]] = field(default_factory=list)

    def add(self, line: int, code: str, reason: str) -> None:
        self.count += 1
        item = (-line, self.count, {"line": line, "code": code, "reason": reason})
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, item)
        elif -self._heap[0][0] > line:
            heapq.heapreplace(self._heap, item)

    def sorted(self) -> list[dict]:
        return [entry for _, _, entry in sorted(self._heap, key=lambda i: (-i[0], i[1]))]


@dataclass
class _Checked:
    file_format: str
    encoding: str
    rows: int
    errors: _Errors
    ids: array  # good rows' sku ids, in id order, duplicates removed
    stocks: array


def _code_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel turned the code 10086 into a number
    text = str(value).strip()
    return text or None


def _stock_value(value: Any) -> tuple[int | None, str, str]:
    """``(stock, error code, reason)``; stock None when the cell is bad."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)  # the common case, first: a plain CSV number
        if number <= STOCK_MAX:
            return number, "", ""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, RowError.MISSING_STOCK, "The stock cell is empty."
    if isinstance(value, bool):
        return None, RowError.NOT_INTEGER, "Stock must be a whole number."
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None, RowError.NOT_INTEGER, f"Stock must be a whole number, not {value}."
        number = int(value)
    else:
        text = str(value).strip()
        if text.startswith("-") and _INTEGER.match(text[1:]):
            return None, RowError.NEGATIVE_STOCK, f"Stock cannot be negative ({text})."
        if not _INTEGER.match(text):
            return None, RowError.NOT_INTEGER, f"Stock must be a whole number, not {text[:20]!r}."
        number = int(text)
    if number < 0:
        return None, RowError.NEGATIVE_STOCK, f"Stock cannot be negative ({number})."
    if number > STOCK_MAX:
        return None, RowError.TOO_LARGE, f"Stock above {STOCK_MAX} is not accepted ({number})."
    return number, "", ""


def _resolve(
    merchant_id: int,
    pending: list[tuple[int, str, int]],
    errors: _Errors,
    ids: array,
    stocks: array,
    lines: array,
) -> None:
    known = sku_ids_by_code(merchant_id=merchant_id, codes={code for _, code, _ in pending})
    unknown = {code for _, code, _ in pending if code not in known}
    others = sku_codes_of_others(merchant_id=merchant_id, codes=unknown) if unknown else set()
    for line, code, stock in pending:
        sku_id = known.get(code)
        if sku_id is None:
            kind = RowError.OTHER_MERCHANT_SKU if code in others else RowError.UNKNOWN_SKU
            errors.add(line, kind, f"No SKU of yours has the code {code!r}.")
            continue
        ids.append(sku_id)
        stocks.append(stock)
        lines.append(line)


def _check(*, merchant_id: int, fileobj: IO[bytes], filename: str) -> _Checked:
    source = stock_file_open(fileobj, filename)
    errors = _Errors(cap=MAX_ERRORS_KEPT)
    ids, stocks, lines = array("q"), array("q"), array("q")
    pending: list[tuple[int, str, int]] = []
    rows = 0
    for line, raw_code, raw_stock in source.rows:
        rows += 1
        if rows > MAX_ROWS:
            raise StockFileTooLarge(f"More than {MAX_ROWS:,} rows: split the file.")
        code = _code_text(raw_code)
        if code is None:
            errors.add(line, RowError.MISSING_CODE, "The sku_code cell is empty.")
            continue
        if len(code) > CODE_MAX_LENGTH:
            errors.add(
                line, RowError.UNKNOWN_SKU, f"No SKU of yours has the code {code[:CODE_MAX_LENGTH]!r}…."
            )
            continue
        stock, error_code, reason = _stock_value(raw_stock)
        if stock is None:
            errors.add(line, error_code, reason)
            continue
        pending.append((line, code, stock))
        if len(pending) >= LOOKUP_BATCH:
            _resolve(merchant_id, pending, errors, ids, stocks, lines)
            pending = []
    if pending:
        _resolve(merchant_id, pending, errors, ids, stocks, lines)
    if rows == 0:
        raise StockFileEmpty("The file has a header but no rows.")

    # Sort by (sku id, line) — packed into one int per row: lines stay below 2**32.
    order = sorted((ids[i] << 32) | i for i in range(len(ids)))
    unique_ids, unique_stocks = array("q"), array("q")
    previous_id, first_line = None, 0
    for packed in order:
        i = packed & 0xFFFFFFFF
        if ids[i] == previous_id:
            errors.add(
                lines[i],
                RowError.DUPLICATE_CODE,
                f"The same sku_code is already on line {first_line}; this line was ignored.",
            )
            continue
        previous_id, first_line = ids[i], lines[i]
        unique_ids.append(ids[i])
        unique_stocks.append(stocks[i])
    return _Checked(
        file_format=source.file_format,
        encoding=source.encoding,
        rows=rows,
        errors=errors,
        ids=unique_ids,
        stocks=unique_stocks,
    )


def _apply(*, merchant_id: int, checked: _Checked) -> int:
    changed = 0
    for start in range(0, len(checked.ids), APPLY_BATCH):
        batch = list(
            zip(
                checked.ids[start : start + APPLY_BATCH],
                checked.stocks[start : start + APPLY_BATCH],
                strict=True,
            )
        )
        changed += sku_set_on_hand_many(merchant_id=merchant_id, rows=batch)
    return changed


def stock_upload_run(
    *,
    merchant_id: int,
    fileobj: IO[bytes],
    filename: str,
    actor,
    dry_run: bool = False,
    via: str = StockUpload.Via.API,
    size: int | None = None,
) -> StockUpload:
    """Check a stock file and (unless ``dry_run``) apply its good rows in one transaction.

    Returns the ``StockUpload`` record (``applied``, ``changed``, ``errors``). A file that
    cannot be used at all raises a ``StockFileRejected`` subclass (400) after its
    rejection is recorded; nothing is applied then.
    """
    staff_require_role(user=actor, merchant_id=merchant_id, area=CATALOG)
    started = time.monotonic()
    filename = (filename or "upload")[:255]
    record = StockUpload(merchant_id=merchant_id, actor=actor, via=via, filename=filename, dry_run=dry_run)
    try:
        if size is not None and size > MAX_BYTES:
            raise StockFileTooLarge(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it.")
        checked = _check(merchant_id=merchant_id, fileobj=fileobj, filename=filename)
    except StockFileRejected as exc:
        record.status = StockUpload.Status.REJECTED
        record.rejection_code = exc.code
        record.rejection_reason = exc.message[:255]
        record.duration_ms = int((time.monotonic() - started) * 1000)
        record.save()
        raise

    record.file_format = checked.file_format
    record.encoding = checked.encoding
    record.rows = checked.rows
    record.valid = len(checked.ids)
    record.error_count = checked.errors.count
    record.errors = checked.errors.sorted()
    with transaction.atomic():
        if dry_run:
            record.status = StockUpload.Status.CHECKED
        else:
            record.changed = _apply(merchant_id=merchant_id, checked=checked)
            record.applied = len(checked.ids)
            record.status = StockUpload.Status.APPLIED
        record.duration_ms = int((time.monotonic() - started) * 1000)
        record.save()
    return record
