"""Tracking numbers uploaded in bulk: a CSV or XLSX of ``order_no, carrier, tracking_no``.

Each row ships one order through ``order_ship`` — the service behind the API's ship
endpoint — in its own transaction, so one bad row never holds back or undoes the others;
the merchant fixes the rows listed as failed and uploads again. Rows with neither carrier nor
tracking number are skipped (the orders of a shipping list not shipped yet). A re-upload is harmless:
an order already shipped with the same tracking number is a quiet no-op (``order_ship``'s
rule) and is counted as ``unchanged``. The shipping list (``orders.shipping_list``) has
these three columns first, so the merchant can fill it in and upload it back.

A file that cannot be used at all (empty, no such header, unreadable, too big) raises a
``StockFileRejected`` subclass (400) and nothing is shipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils import timezone

from merchants.errors import StockFileTooLarge
from merchants.stock_files import table_file_open
from shop.errors import ApplicationError

from .lifecycle import CARRIER_MAX_LENGTH, TRACKING_NO_PATTERN, order_ship

# Rows run one ``order_ship`` each inside the web request (gunicorn's timeout is 30 s):
# measured 69 ms a row on a 2-core machine at load average 19 with tasks run eagerly
# (tests), 17 ms a row for a re-upload (no-ops). 500 rows stay inside the timeout even
# then; a bigger day is split into files of 500, or this moves into a Celery task.
MAX_ROWS = 500
MAX_BYTES = 5 * 1024 * 1024
TRACKING_COLUMNS = (
    ("order_no", ("order_no", "order_id", "order", "订单号", "订单编号")),
    ("carrier", ("carrier", "快递公司", "物流公司", "快递")),
    ("tracking_no", ("tracking_no", "tracking", "tracking_number", "快递单号", "运单号", "物流单号")),
)
_TRACKING_NO = re.compile(TRACKING_NO_PATTERN)


@dataclass
class TrackingUploadResult:
    rows: int = 0  # rows with a carrier or a tracking number (the ones acted on)
    skipped: int = 0  # rows with neither: not shipped yet (the rest of a shipping list)
    shipped: list[int] = field(default_factory=list)  # order ids shipped by this upload
    unchanged: list[int] = field(default_factory=list)  # already shipped with this number
    failed: list[dict] = field(default_factory=list)  # {"line", "order_no", "reason"}


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 10086 and 7712345678901 as numbers
    return str(value).strip()


def _row_problem(order_no: str, carrier: str, tracking_no: str) -> str:
    if not order_no.isascii() or not order_no.isdigit() or len(order_no) > 18:
        return f"The order number {order_no[:20]!r} is not a number." if order_no else "No order number."
    if not carrier:
        return "No carrier."
    if len(carrier) > CARRIER_MAX_LENGTH:
        return f"The carrier's name is longer than {CARRIER_MAX_LENGTH} characters."
    if not _TRACKING_NO.match(tracking_no):
        return "The tracking number must be 4 to 64 letters, digits or dashes."
    return ""


def order_ship_from_file(
    *, merchant_id: int, fileobj: IO[bytes], filename: str, actor, size: int | None = None
) -> TrackingUploadResult:
    """Ship every order the file names, each as the ship endpoint would. Rows naming an
    order that is not this merchant's, or one that cannot ship (not paid, refunded,
    already shipped with another number), fail with the service's reason."""
    if size is not None and size > MAX_BYTES:
        raise StockFileTooLarge(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it.")
    source = table_file_open(fileobj, filename or "upload", columns=TRACKING_COLUMNS)
    parsed: list[tuple[int, str, str, str]] = []
    skipped = 0
    for line, *cells in source.rows:  # read (and count) the whole file before shipping anything
        order_no, carrier, tracking_no = (_cell_text(c) for c in cells)
        if not carrier and not tracking_no:
            skipped += 1  # a shipping-list row not filled in: that order is not shipped yet
            continue
        if len(parsed) >= MAX_ROWS:
            raise StockFileTooLarge(f"More than {MAX_ROWS:,} filled-in rows: split the file.")
        parsed.append((line, order_no, carrier, tracking_no))

    result = TrackingUploadResult(rows=len(parsed), skipped=skipped)
    for line, order_no, carrier, tracking_no in parsed:
        problem = _row_problem(order_no, carrier, tracking_no)
        if problem:
            result.failed.append({"line": line, "order_no": order_no, "reason": problem})
            continue
        order_id, now = int(order_no), timezone.now()
        try:
            order = order_ship(
                order_id=order_id,
                merchant_id=merchant_id,
                carrier=carrier,
                tracking_no=tracking_no,
                actor=actor,
                now=now,
            )
        except ApplicationError as exc:
            result.failed.append({"line": line, "order_no": order_no, "reason": exc.message})
            continue
        if order.shipped_at == now:  # shipped by this row; a no-op keeps the earlier time
            result.shipped.append(order_id)
        else:
            result.unchanged.append(order_id)
    return result
