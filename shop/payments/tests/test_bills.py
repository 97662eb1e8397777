"""WeChat's bill files: backtick-prefixed yuan strings into fen with Decimal, header-driven fields,
and a large bill streamed in flat memory."""

from __future__ import annotations

import tracemalloc

import pytest

from shop.payments.gateways.bills import BillFormatError, fen_to_yuan, parse_bill, yuan_to_fen

# A trade bill as WeChat writes one (service-provider columns, our numbers).
TRADE_BILL = """\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,\
交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,\
商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2024-07-01 12:00:05,`wx0123456789abcdef,`1900000109,`1600000001,`,`4200002345202407011234567890,\
`2407011200001a2b,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`19.90,`0.00,`0,`0,`0.00,`0.00,`,`,\
`苹果, 红富士 5斤,`,`0.11940,`0.60%,`19.90,`0.00,`
`2024-07-01 18:30:00,`wx0123456789abcdef,`1900000109,`1600000001,`,`4200002345202407011234567890,\
`2407011200001a2b,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,\
`50000000382019052709732678859,`R2407011830001,`9.90,`0.00,`ORIGINAL,`SUCCESS,`苹果,`,`-0.05940,`0.60%,\
`19.90,`9.90,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`2,`19.90,`9.90,`0.00,`0.06000,`19.90,`9.90
"""


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("`1.23", 123),
        ("1.23", 123),
        ("`0.01", 1),
        ("`19.90", 1990),
        ("`100", 10_000),
        ("`-5.00", -500),
        ("` 7.10 ", 710),
        ("`1,234.50", 123_450),
        ("`", 0),
        ("", 0),
        ("`0.10000", 10),
        ("`12345678901234.56", 1_234_567_890_123_456),  # beyond float's exact range: still exact
    ],
)
def test_backtick_yuan_strings_are_exact_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["`1.234", "`0.005", "`abc", "`NaN", "`Infinity", "`1e400x"])
def test_what_is_not_whole_fen_is_refused(text):
    with pytest.raises(BillFormatError):
        yuan_to_fen(text)


def test_fees_round_half_up_to_the_fen():
    assert yuan_to_fen("`0.11940", rounded=True) == 12
    assert yuan_to_fen("`0.11500", rounded=True) == 12
    assert yuan_to_fen("`0.11499", rounded=True) == 11
    assert yuan_to_fen("`-0.05940", rounded=True) == -6


def test_fen_to_yuan_is_exact_both_ways():
    for fen in (0, 1, 9, 10, 99, 100, 1990, -5, -123_456, 10**15 + 7):
        assert yuan_to_fen("`" + fen_to_yuan(fen)) == fen


def test_a_trade_bill_parses_by_its_header():
    lines = list(parse_bill("trade", TRADE_BILL.splitlines(keepends=True)))

    paid, refund, summary = lines
    assert (paid.section, refund.section, summary.section) == ("detail", "detail", "summary")
    assert paid.get("transaction_id") == "4200002345202407011234567890"
    assert paid.get("sub_mchid") == "1600000001"
    assert paid.get("商品名称") == "苹果, 红富士 5斤"  # a comma inside a field is not a separator
    assert paid.fen("settlement_total") == 1990
    assert paid.fen("fee") == 12
    assert paid.get("费率") == "0.60%"
    assert "费率" not in paid.amounts
    assert refund.get("out_refund_no") == "R2407011830001"
    assert refund.fen("refund_amount") == 990
    assert refund.fen("手续费") == -6
    assert summary.fen("应结订单总金额") == 1990
    assert summary.get("总交易单数") == "2"
    assert paid.line_no == 2
    assert all(isinstance(value, int) for line in lines for value in line.amounts.values())


def test_a_malformed_bill_is_refused_naming_the_line():
    bad = TRADE_BILL.replace("`19.90,`0.00,`0,`0", "`19.9O,`0.00,`0,`0", 1)
    with pytest.raises(BillFormatError, match="line 2"):
        list(parse_bill("trade", bad.splitlines()))
    short = "a,b,c\n`1,`2\n"
    with pytest.raises(BillFormatError, match="line 2"):
        list(parse_bill("trade", short.splitlines()))


def _big_bill(rows: int):
    yield (
        "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
        "资金变更提交申请人,备注,业务凭证号\n"
    )
    for i in range(rows):
        yield (
            f"`2024-07-01 12:00:{i % 60:02d},`42000023452024070{i:011d},`{i:020d},`交易,`交易,`收入,"
            f"`{i % 1000}.{i % 100:02d},`{i}.00,`system,`,`{i}\n"
        )
    yield "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n"
    yield f"`{rows},`{rows},`0.00,`0,`0.00\n"


def test_a_large_bill_streams_in_flat_memory():
    rows = 50_000  # tracemalloc slows every allocation: enough to show growth, if any
    tracemalloc.start()
    try:
        count = total = 0
        for line in parse_bill("fundflow", _big_bill(rows)):
            if line.section == "detail":
                count += 1
                total += line.fen("flow_amount")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == rows
    assert total == sum((i % 1000) * 100 + i % 100 for i in range(rows))
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes: the bill was held in memory"
