"""A statement as a file for the merchant's bookkeeping: CSV (streamed, UTF-8 with a BOM so
Excel reads the Chinese) or XLSX (two sheets). Both carry the same two parts: the figures
(one row each: header, amount in fen) and the lines. Each header is Chinese followed by the
field's API name, so a file reads well and parses back (``export_field``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.http import HttpResponse, StreamingHttpResponse
from openpyxl import Workbook

from .models import MerchantStatement, MerchantStatementLine

SHANGHAI = ZoneInfo("Asia/Shanghai")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_TYPES = ("csv", "xlsx")
CHUNK_LINES = 2_000  # lines read per query while streaming

FIGURES: list[tuple[str, str]] = [
    ("opening_fen", "期初余额"),
    ("sales_fen", "销售收入"),
    ("subsidy_fen", "补差"),
    ("gateway_fee_fen", "支付手续费"),
    ("commission_fen", "佣金"),
    ("platform_fee_fen", "平台服务费"),
    ("refunds_fen", "退款"),
    ("released_fen", "解冻"),
    ("closing_fen", "期末余额"),
    ("held_fen", "售后冻结"),
    ("returned_fen", "分账回退"),
    ("refunds_after_release_fen", "解冻后退款"),
    ("deductions_fen", "保证金扣除"),
]
K = MerchantStatementLine.Kind
KIND_LABELS: dict[str, str] = {
    K.ORDER_PAID_SHARED: "订单支付",
    K.SUBSIDY_PAID: "补差",
    K.SUBSIDY_RETURNED: "补差回退",
    K.GATEWAY_FEE: "支付手续费",
    K.SHARE_COMMISSION: "分账-佣金",
    K.SHARE_PLATFORM_FEE: "分账-平台服务费",
    K.REFUND_FROM_FROZEN: "退款（冻结资金）",
    K.SHARE_RETURNED: "分账回退（冲减退款）",
    K.UNFREEZE_CONFIRMED: "解冻",
    K.HELD: "售后冻结（日终，仅供参考）",
    K.RETURNED: "分账回退（仅供参考）",
    K.REFUND_AFTER_RELEASE: "解冻后退款（仅供参考）",
    K.DEPOSIT_DEDUCTION: "保证金扣除（仅供参考）",
}
LINE_HEADER = ["订单号 order_id", "类型 kind", "说明", "金额（分） amount_fen", "时间 at"]


def export_field(header: str) -> str:
    """The API name in a header cell (``"期初余额 opening_fen"`` → ``"opening_fen"``)."""
    return header.rsplit(" ", 1)[-1]


def export_filename(statement: MerchantStatement, ext: str) -> str:
    return f"statement-{statement.merchant_id}-{statement.date.isoformat()}.{ext}"


def _summary_rows(statement: MerchantStatement) -> list[list]:
    rows: list[list] = [
        ["对账单 statement_id", statement.pk],
        ["商户 merchant_id", statement.merchant_id],
        ["日期 date", statement.date.isoformat()],
    ]
    rows += [[f"{label} {field}", getattr(statement, field)] for field, label in FIGURES]
    return rows


def _line_rows(statement: MerchantStatement) -> Iterator[list]:
    lines = (
        MerchantStatementLine.objects.filter(statement=statement)
        .order_by("pk")
        .values_list("order_id", "kind", "amount_fen", "at")
    )
    for order_id, kind, amount_fen, at in lines.iterator(chunk_size=CHUNK_LINES):
        yield [
            "" if order_id is None else order_id,
            kind,
            KIND_LABELS.get(kind, kind),
            amount_fen,
            at.astimezone(SHANGHAI).isoformat(),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def statement_csv_chunks(statement: MerchantStatement) -> Iterator[str]:
    """The CSV, row by row, for a streamed response: flat memory whatever the statement's size."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    for row in _summary_rows(statement):
        yield writer.writerow(row)
    yield writer.writerow([])
    yield writer.writerow(LINE_HEADER)
    for row in _line_rows(statement):
        yield writer.writerow(row)


def statement_xlsx(statement: MerchantStatement) -> bytes:
    """The workbook: sheet 汇总 (the figures) and sheet 明细 (the lines), written in
    openpyxl's write-only mode (rows are not kept in memory as cells)."""
    book = Workbook(write_only=True)
    summary = book.create_sheet("汇总")
    for row in _summary_rows(statement):
        summary.append(row)
    lines = book.create_sheet("明细")
    lines.append(LINE_HEADER)
    for row in _line_rows(statement):
        lines.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def statement_file_response(statement: MerchantStatement, file: str) -> HttpResponse | StreamingHttpResponse:
    """The statement as a download: ``csv`` streamed, ``xlsx`` built in memory (write-only).
    The API's export and the merchant console's download both answer with this."""
    if file == "xlsx":
        response = HttpResponse(statement_xlsx(statement), content_type=XLSX_TYPE)
    else:
        response = StreamingHttpResponse(
            statement_csv_chunks(statement), content_type="text/csv; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(statement, file)}"'
    return response
