"""WeChat Pay's bill files (交易账单, 分账账单, 资金账单), read one line at a time.

A bill is UTF-8 text (a BOM may lead): a header line of column names, then one line per record
whose every field starts with a backtick (`` `4200000...`` keeps spreadsheets from reading ids as
numbers), then a summary header and its one summary line. Amounts are yuan with two decimals
(handling fees with up to five): ``"`1.23"`` is 123 fen. They are parsed with ``Decimal``, never
``float``.

Parsing is driven by the header line, not by column positions, so a column WeChat adds or moves
does not shift the others. ``BillLine.fields`` keeps WeChat's own column names; ``BillLine.get``
also answers the English names of ``ALIASES`` (``transaction_id``, ``out_trade_no`` …) and
``BillLine.amounts`` has every money column in fen.

Everything here works on iterators: a bill of a million lines is read in flat memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import NoReturn

BILL_KINDS = ("trade", "refund", "profitsharing", "fundflow")

# English names for the columns reconciliation matches on, with every header WeChat (and the
# sandbox) uses for them across the kinds of bill. The first header present wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("交易时间", "记账时间", "分账时间", "分账发起时间"),
    "mchid": ("商户号", "分账方商户号"),
    "sub_mchid": ("特约商户号", "二级商户号", "分账方二级商户号"),
    "transaction_id": ("微信订单号",),
    "out_trade_no": ("商户订单号",),
    "refund_id": ("微信退款单号",),
    "out_refund_no": ("商户退款单号",),
    "trade_state": ("交易状态",),
    "refund_status": ("退款状态",),
    "settlement_total": ("应结订单金额",),
    "order_total": ("订单金额",),
    "refund_amount": ("退款金额",),
    "fee": ("手续费",),
    "order_id": ("微信分账/回退单号", "微信分账单号"),
    "out_order_no": ("商户分账/回退单号", "商户分账单号"),
    "share_type": ("业务类型",),
    "receiver": ("分账接收方",),
    "receiver_type": ("分账接收方类型",),
    "share_amount": ("动账金额", "分账金额"),
    "share_status": ("状态", "处理状态"),
    "business_no": ("微信支付业务单号",),
    "flow_no": ("资金流水单号",),
    "business_name": ("业务名称",),
    "business_type": ("业务类型",),
    "direction": ("收支类型",),
    "flow_amount": ("收支金额（元）", "收支金额(元)", "收支金额"),
    "balance": ("账户结余（元）", "账户结余(元)", "账户结余"),
    "voucher_no": ("业务凭证号",),
    "remark": ("备注",),
}

# Columns with these words are money; handling fees are quoted to 1/1000 fen and rounded half up
# to the fen WeChat actually charges, every other amount must be whole fen.
_MONEY_WORDS = ("金额", "手续费", "结余", "（元）", "(元)")
_ROUNDED_WORDS = ("手续费",)


class BillFormatError(ValueError):
    """A bill line that is not what WeChat writes: the bill is not to be trusted."""


def yuan_to_fen(value: str, *, rounded: bool = False) -> int:
    """``"`1.23"`` → 123. Backtick, spaces and a thousands comma are ignored; never float.

    A value with a fraction of a fen raises ``BillFormatError`` unless ``rounded`` (fees), which
    rounds half up. An empty value is 0.
    """
    raw = value.strip().lstrip("`").strip()
    if "," in raw:
        raw = raw.replace(",", "")
    if not raw or raw == "-":
        return 0
    fen = _fen_of_plain_decimal(raw, rounded=rounded)
    if fen is not None:
        return fen
    try:
        fen = Decimal(raw).scaleb(2)
    except InvalidOperation as exc:
        raise BillFormatError(f"not an amount in yuan: {value!r}") from exc
    if not fen.is_finite():
        raise BillFormatError(f"not an amount in yuan: {value!r}")
    whole = fen.to_integral_value(rounding=ROUND_HALF_UP)
    if not rounded and whole != fen:
        raise BillFormatError(f"{value!r} is not a whole number of fen")
    return int(whole)


def _fen_of_plain_decimal(raw: str, *, rounded: bool) -> int | None:
    """The fen of ``"123.45"``, ``"-0.05"``, ``"0.11940"`` (rounded) in integer arithmetic, the
    same answer ``Decimal`` gives; None for anything else (exponents, odd forms, a fraction of a
    fen that is not to be rounded), which the ``Decimal`` path then reads or refuses. Reading a
    million-line bill, ``Decimal`` was most of the parser's time (reconciliation, bench)."""
    sign = 1
    if raw[0] in "+-":
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:]
    whole, dot, frac = raw.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (dot and not (frac.isascii() and frac.isdigit())):
        return None
    if len(frac) <= 2:
        return sign * (int(whole) * 100 + int(frac.ljust(2, "0")))
    scale = 10 ** (len(frac) - 2)  # units of the value per fen
    units = int(whole + frac)
    if units % scale == 0:
        return sign * (units // scale)
    if not rounded:
        return None
    return sign * ((2 * units + scale) // (2 * scale))  # half up (away from zero), as ROUND_HALF_UP


# Most amounts on a bill repeat (every "0.00", the common prices): a small cache of parsed
# values (a few hundred kB at most) spares the parser most of its arithmetic.
@lru_cache(maxsize=2048)
def _yuan_to_fen_cached(value: str, rounded: bool) -> int:
    return yuan_to_fen(value, rounded=rounded)


def fen_to_yuan(fen: int) -> str:
    """123 → ``"1.23"``; -5 → ``"-0.05"``. Exact (integer arithmetic)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def is_money_column(name: str) -> bool:
    return any(word in name for word in _MONEY_WORDS) and "费率" not in name and "笔数" not in name


@dataclass(frozen=True, slots=True)
class BillLine:
    """One record (``section == "detail"``) or the summary (``section == "summary"``) of a bill."""

    kind: str
    line_no: int  # 1-based line number in the file, for the ops case that names it
    section: str
    fields: dict[str, str]
    amounts: dict[str, int] = field(default_factory=dict)  # every money column, in fen
    sub_mchid: str | None = None  # whose bill (secondary merchants' fund-flow bills), else None

    def get(self, name: str, default: str = "") -> str:
        """A field by WeChat's column name or by an English name of ``ALIASES``."""
        if name in self.fields:
            return self.fields[name]
        for header in ALIASES.get(name, ()):
            if header in self.fields:
                return self.fields[header]
        return default

    def fen(self, name: str) -> int:
        """A money field in fen, by column name or English alias; ``KeyError`` if absent."""
        if name in self.amounts:
            return self.amounts[name]
        for header in ALIASES.get(name, ()):
            if header in self.amounts:
                return self.amounts[header]
        raise KeyError(name)


def parse_bill(kind: str, lines: Iterable[str], *, sub_mchid: str | None = None) -> Iterator[BillLine]:
    """Parse a bill's text lines (any iterable: a file, a generator) into ``BillLine`` s, lazily."""
    header: list[str] | None = None
    money: list[tuple[int, str, bool]] = []  # (position, column, rounded) of the header's money columns
    section = "detail"
    fen_of = _yuan_to_fen_cached
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line_no == 1:
            line = line.lstrip("\ufeff")
        if not line or line.isspace():
            continue
        if line[0] != "`":
            if header is not None:
                section = "summary"
            header = [name.strip() for name in line.split(",")]
            money = [
                (i, name, any(w in name for w in _ROUNDED_WORDS))
                for i, name in enumerate(header)
                if is_money_column(name)
            ]
            continue
        if header is None:
            raise BillFormatError(f"{kind} bill line {line_no}: a record before any header")
        # Every field opens with a backtick, so ",`" splits fields even where a product name
        # holds a comma.
        values = line[1:].split(",`")
        if len(values) != len(header):
            raise BillFormatError(
                f"{kind} bill line {line_no}: {len(values)} fields under a header of {len(header)}"
            )
        try:
            amounts = {name: fen_of(values[i], rounded) for i, name, rounded in money}
        except BillFormatError:
            _raise_naming_the_column(kind, line_no, values, money)
        # Positionally: a frozen dataclass's keyword __init__ was a tenth of a line's time.
        yield BillLine(kind, line_no, section, dict(zip(header, values, strict=True)), amounts, sub_mchid)


def _raise_naming_the_column(kind: str, line_no: int, values: list[str], money: list) -> NoReturn:
    """The amount that failed, named (only on the error path: the happy path parses in bulk)."""
    for i, name, rounded in money:
        try:
            _yuan_to_fen_cached(values[i], rounded)
        except BillFormatError as exc:
            raise BillFormatError(f"{kind} bill line {line_no}, {name}: {exc}") from exc
    raise BillFormatError(f"{kind} bill line {line_no}: an amount could not be read")


def format_bill_line(values: Iterable[object]) -> str:
    """A record line as WeChat writes it: every field behind a backtick (no trailing newline)."""
    return ",".join(f"`{value}" for value in values)
