"""The e-commerce sandbox: secondary merchants' money, shares capped and rate-limited, PROCESSING
then FINISHED, returns, unfreeze, refunds, signed callbacks and bills built from what was done.

Its state lives in Django's cache (Redis here), under a namespace of this test's own.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import pytest

from shop.errors import ValidationFailed
from shop.payments.gateways.base import GatewayError, InvalidCallback
from shop.payments.gateways.ecommerce import (
    FINISHED,
    FREQUENCY_LIMITED,
    NOT_ENOUGH,
    NOT_SETTLED,
    PROCESSING,
    ShareReceiver,
    SubOrder,
    ecommerce_gateway_get,
    is_not_settled,
    retry_later,
)
from shop.payments.gateways.ecommerce_sandbox import PLATFORM_MCHID, SandboxEcommerceGateway

TODAY = lambda: datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # noqa: E731


@pytest.fixture
def gw() -> SandboxEcommerceGateway:
    return SandboxEcommerceGateway(namespace=f"t-{uuid.uuid4().hex}", ttl_s=600)


@pytest.fixture
def two_merchants(gw):
    return gw.open_sub_merchant("merchant-a"), gw.open_sub_merchant("merchant-b")


def paid_combined(gw, a, b, *, a_fen=10_000, a_subsidy=2_000, b_fen=5_000, combine="C240701000001"):
    """A combined payment of two sub-orders, paid; its parts by sub_mchid."""
    orders = [
        SubOrder(
            sub_mchid=a, out_trade_no=f"{combine}-1", amount_fen=a_fen, description="A", subsidy_fen=a_subsidy
        ),
        SubOrder(sub_mchid=b, out_trade_no=f"{combine}-2", amount_fen=b_fen, description="B"),
    ]
    gw.combine_prepay(combine_out_trade_no=combine, sub_orders=orders, openid="o-buyer")
    headers, body = gw.simulate_payment(combine_out_trade_no=combine)
    payment = gw.parse_payment_callback(headers=headers, body=body)
    return {part.sub_mchid: part for part in payment.parts}


def share(gw, part, out_order_no, amount_fen, *, account=PLATFORM_MCHID):
    return gw.profit_share_create(
        sub_mchid=part.sub_mchid,
        transaction_id=part.transaction_id,
        out_order_no=out_order_no,
        receivers=[ShareReceiver(account=account, amount_fen=amount_fen, description="佣金")],
    )


def query(gw, part, out_order_no):
    return gw.profit_share_query(
        sub_mchid=part.sub_mchid, transaction_id=part.transaction_id, out_order_no=out_order_no
    )


# --- payments ---------------------------------------------------------------------------


def test_a_combined_payment_freezes_each_part_in_its_merchants_account(gw, two_merchants):
    a, b = two_merchants

    parts = paid_combined(gw, a, b)

    assert parts[a].succeeded
    assert parts[b].succeeded
    assert (parts[a].amount_fen, parts[b].amount_fen) == (10_000, 5_000)
    assert parts[a].transaction_id != parts[b].transaction_id
    assert gw.balances(a) == {"frozen": 10_000, "released": 0}
    assert gw.balances(b) == {"frozen": 5_000, "released": 0}
    queried = gw.combine_query("C240701000001")
    assert queried.succeeded
    assert {p.transaction_id for p in queried.parts} == {
        parts[a].transaction_id,
        parts[b].transaction_id,
    }


def test_paying_twice_changes_nothing_and_sends_the_same_callback(gw, two_merchants):
    a, b = two_merchants
    paid_combined(gw, a, b)

    headers, body = gw.simulate_payment(combine_out_trade_no="C240701000001")

    assert gw.parse_payment_callback(headers=headers, body=body).succeeded
    assert gw.balances(a)["frozen"] == 10_000


def test_a_partner_payment_has_one_part(gw, two_merchants):
    a, _ = two_merchants
    order = SubOrder(sub_mchid=a, out_trade_no="P1", amount_fen=990, description="one")
    params = gw.partner_prepay(sub_order=order, openid="o-buyer")
    assert params["sandbox"] is True
    assert gw.partner_prepay(sub_order=order, openid="o-buyer") == params  # retried prepay, same answer

    headers, body = gw.simulate_payment(sub_mchid=a, out_trade_no="P1")
    payment = gw.parse_payment_callback(headers=headers, body=body)

    assert payment.combine_out_trade_no is None
    assert [(p.out_trade_no, p.amount_fen) for p in payment.parts] == [("P1", 990)]
    assert gw.partner_query(sub_mchid=a, out_trade_no="P1").succeeded


def test_a_combined_payment_has_at_most_50_sub_orders(gw):
    orders = [
        SubOrder(sub_mchid="1600000001", out_trade_no=f"S{i}", amount_fen=1, description="x")
        for i in range(51)
    ]

    with pytest.raises(ValidationFailed):
        gw.combine_prepay(combine_out_trade_no="C51", sub_orders=orders, openid="o")
    gw.combine_prepay(combine_out_trade_no="C50", sub_orders=orders[:50], openid="o")


def test_a_combined_payment_is_closed_only_as_a_whole_and_not_once_paid(gw, two_merchants):
    a, b = two_merchants
    orders = [
        SubOrder(sub_mchid=a, out_trade_no="X-1", amount_fen=100, description="A"),
        SubOrder(sub_mchid=b, out_trade_no="X-2", amount_fen=100, description="B"),
    ]
    gw.combine_prepay(combine_out_trade_no="X", sub_orders=orders, openid="o")

    with pytest.raises(GatewayError):
        gw.combine_close(combine_out_trade_no="X", sub_orders=orders[:1])
    gw.combine_close(combine_out_trade_no="X", sub_orders=orders)
    gw.combine_close(combine_out_trade_no="X", sub_orders=orders)  # twice is fine
    gw.combine_close(combine_out_trade_no="never-seen", sub_orders=orders)
    assert {p.trade_state for p in gw.combine_query("X").parts} == {"CLOSED"}
    with pytest.raises(GatewayError) as caught:
        gw.simulate_payment(combine_out_trade_no="X")
    assert caught.value.wechat_code == "ORDERCLOSED"

    paid_combined(gw, a, b, combine="Y")
    with pytest.raises(GatewayError) as caught:
        gw.combine_close(combine_out_trade_no="Y", sub_orders=gw.combine_query("Y").parts)
    assert caught.value.wechat_code == "ORDERPAID"


def test_payment_callbacks_are_signed(gw, two_merchants):
    a, b = two_merchants
    paid_combined(gw, a, b)
    headers, body = gw.build_payment_callback(combine_out_trade_no="C240701000001")

    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers=headers, body=body.replace(b"10000", b"99999"))
    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers={}, body=body)


# --- subsidies --------------------------------------------------------------------------


def test_the_declared_subsidy_is_paid_once_into_the_frozen_funds(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)

    first = gw.subsidy_create(
        sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券"
    )
    again = gw.subsidy_create(
        sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券"
    )

    assert first == again
    assert first.result == "SUCCESS"
    assert gw.balances(a)["frozen"] == 12_000
    assert gw.balances(PLATFORM_MCHID)["released"] == -2_000
    with pytest.raises(GatewayError):  # more than declared at prepay
        gw.subsidy_create(sub_mchid=b, transaction_id=parts[b].transaction_id, amount_fen=1, description="券")
    with pytest.raises(GatewayError):  # one subsidy per sub-order
        gw.subsidy_create(
            sub_mchid=a,
            transaction_id=parts[a].transaction_id,
            amount_fen=2_000,
            description="券",
            out_subsidy_no="X2",
        )


def test_the_subsidy_is_the_declared_amount_less_only_after_a_refund(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    with pytest.raises(GatewayError):
        gw.subsidy_create(
            sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=1_999, description="券"
        )
    gw.refund(
        sub_mchid=a,
        out_trade_no=parts[a].out_trade_no,
        out_refund_no="R",
        refund_fen=5_000,
        total_fen=10_000,
        reason="部分退款",
    )

    done = gw.subsidy_create(
        sub_mchid=a,
        transaction_id=parts[a].transaction_id,
        amount_fen=1_000,
        description="券",
        out_subsidy_no="SB-1",
    )

    assert done.amount_fen == 1_000
    assert gw.balances(a)["frozen"] == 10_000 - 5_000 + 1_000


def test_no_subsidy_after_a_share(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 100)

    with pytest.raises(GatewayError) as caught:
        gw.subsidy_create(
            sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券"
        )
    assert not retry_later(caught.value)


def test_a_subsidy_is_returned_on_refund(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.subsidy_create(sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券")

    kwargs = dict(
        sub_mchid=a,
        out_order_no="SR-1",
        transaction_id=parts[a].transaction_id,
        refund_id="r",
        description="退",
    )
    result = gw.subsidy_return(amount_fen=500, **kwargs)

    assert result.result == "SUCCESS"
    assert result.amount_fen == 500
    assert gw.subsidy_return(amount_fen=500, **kwargs) == result  # same number: applied once
    assert gw.balances(a)["frozen"] == 11_500
    assert gw.balances(PLATFORM_MCHID)["released"] == -1_500
    with pytest.raises(GatewayError):
        gw.subsidy_return(amount_fen=1_501, **{**kwargs, "out_order_no": "SR-2"})


# --- shares -----------------------------------------------------------------------------


def test_a_share_is_processing_then_finished_on_a_later_query(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)

    accepted = share(gw, parts[a], "S-a-1", 1_000)

    assert accepted.status == PROCESSING
    assert accepted.receivers[0].result == "PENDING"
    assert share(gw, parts[a], "S-a-1", 1_000).status == PROCESSING  # retried: the same share
    assert gw.balances(PLATFORM_MCHID)["released"] == 0
    done = query(gw, parts[a], "S-a-1")
    assert done.status == FINISHED
    assert done.finished
    assert done.shared_fen == 1_000
    assert gw.balances(a) == {"frozen": 9_000, "released": 0}
    assert gw.balances(PLATFORM_MCHID)["released"] == 1_000
    assert share(gw, parts[a], "S-a-1", 1_000).status == FINISHED  # retried after: no second share
    assert gw.balances(a)["frozen"] == 9_000


def test_processing_can_last_several_polls(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.processing_polls(3)
    share(gw, parts[a], "S-a-1", 1_000)

    statuses = [query(gw, parts[a], "S-a-1").status for _ in range(4)]

    assert statuses == [PROCESSING, PROCESSING, FINISHED, FINISHED]


def test_the_same_out_order_no_with_other_amounts_is_refused(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)

    with pytest.raises(GatewayError):
        share(gw, parts[a], "S-a-1", 1_001)


def test_a_share_above_30_percent_of_amount_plus_subsidy_less_shared_is_refused(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)  # a: 10,000 paid + 2,000 subsidy → at most 3,600 shared
    gw.subsidy_create(sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券")

    with pytest.raises(GatewayError) as caught:
        share(gw, parts[a], "S-a-1", 3_601)
    assert "maximum share ratio" in caught.value.message
    assert not retry_later(caught.value)
    share(gw, parts[a], "S-a-1", 3_000)
    with pytest.raises(GatewayError):
        share(gw, parts[a], "S-a-2", 601)
    assert share(gw, parts[a], "S-a-2", 600).status == PROCESSING
    assert gw.balances(a)["frozen"] == 12_000 - 3_600


def test_a_merchant_may_have_a_lower_maximum_ratio(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.max_share_ratio(b, 1_000)  # 10 % of 5,000

    with pytest.raises(GatewayError):
        share(gw, parts[b], "S-b-1", 501)
    share(gw, parts[b], "S-b-1", 500)


def test_the_rate_limit_is_per_merchant_and_says_frequency_limited(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.rate_limit(2)
    for attempt in range(5):  # the three calls must fall in one second of the clock
        second = int(time.time())
        query(gw, parts[a], f"none-{attempt}")
        query(gw, parts[a], f"none-{attempt}")
        try:
            query(gw, parts[a], f"none-{attempt}")
        except GatewayError as exc:
            caught = exc
            break
        assert int(time.time()) != second, "three calls in one second were not limited"
        time.sleep(1.05 - (time.time() % 1))
    assert caught.wechat_code == FREQUENCY_LIMITED
    assert retry_later(caught)
    assert query(gw, parts[b], "none") is None  # another merchant is not limited


@pytest.mark.parametrize(
    ("answer", "code", "retry"),
    [
        ("FREQUENCY_LIMITED", FREQUENCY_LIMITED, True),
        ("NOT_SETTLED", NOT_SETTLED, True),
        ("FAIL", "SYSTEM_ERROR", True),
    ],
)
def test_told_answers_apply_nothing_and_the_retry_succeeds_once(gw, two_merchants, answer, code, retry):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.answer("profit_share_create", answer)

    with pytest.raises(GatewayError) as caught:
        share(gw, parts[a], "S-a-1", 1_000)

    assert caught.value.wechat_code == code
    assert retry_later(caught.value) is retry
    assert is_not_settled(caught.value) is (answer == "NOT_SETTLED")
    assert gw.balances(a)["frozen"] == 10_000
    assert share(gw, parts[a], "S-a-1", 1_000).status == PROCESSING
    assert query(gw, parts[a], "S-a-1").status == FINISHED
    assert gw.balances(a)["frozen"] == 9_000


def test_a_share_is_refused_until_the_payment_is_settled(gw, two_merchants):
    a, b = two_merchants
    gw.control.settle_delay(3600)
    parts = paid_combined(gw, a, b)

    with pytest.raises(GatewayError) as caught:
        share(gw, parts[a], "S-a-1", 1_000)

    assert is_not_settled(caught.value)
    assert retry_later(caught.value)
    with pytest.raises(GatewayError) as caught:  # the subsidy waits for settlement too
        gw.subsidy_create(
            sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券"
        )
    assert is_not_settled(caught.value)


def test_a_timeout_is_a_retryable_gateway_error(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.answer("profit_share_query", "TIMEOUT")

    with pytest.raises(GatewayError) as caught:
        query(gw, parts[a], "x")
    assert caught.value.status is None
    assert retry_later(caught.value)


def test_a_closed_share_gives_the_money_back(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.control.answer("profit_share_create", "CLOSED")
    share(gw, parts[a], "S-a-1", 1_000)

    done = query(gw, parts[a], "S-a-1")

    assert done.status == FINISHED
    assert done.receivers[0].result == "CLOSED"
    assert done.shared_fen == 0
    assert gw.balances(a)["frozen"] == 10_000
    assert gw.balances(PLATFORM_MCHID)["released"] == 0
    share(gw, parts[a], "S-a-2", 3_000)  # the cap counts only what was shared


# --- returns, unfreeze, refunds ---------------------------------------------------------


def test_a_share_return_gives_the_merchant_its_money_back_once(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)
    query(gw, parts[a], "S-a-1")
    kwargs = dict(sub_mchid=a, out_order_no="S-a-1", return_mchid=PLATFORM_MCHID, description="退款回退")

    returned = gw.profit_share_return_create(out_return_no="RT-1", amount_fen=400, **kwargs)

    assert returned.result == "SUCCESS"
    assert returned.amount_fen == 400
    assert gw.profit_share_return_create(out_return_no="RT-1", amount_fen=400, **kwargs) == returned
    assert gw.balances(a)["frozen"] == 9_400
    assert gw.balances(PLATFORM_MCHID)["released"] == 600
    with pytest.raises(GatewayError):
        gw.profit_share_return_create(out_return_no="RT-2", amount_fen=601, **kwargs)
    assert (
        gw.profit_share_return_query(sub_mchid=a, out_order_no="S-a-1", out_return_no="RT-1").result
        == "SUCCESS"
    )
    assert gw.profit_share_return_query(sub_mchid=a, out_order_no="S-a-1", out_return_no="nope") is None


def test_a_return_can_be_processing_first(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)
    query(gw, parts[a], "S-a-1")
    gw.control.answer("profit_share_return_create", "PROCESSING")

    first = gw.profit_share_return_create(
        sub_mchid=a,
        out_order_no="S-a-1",
        out_return_no="RT-1",
        return_mchid=PLATFORM_MCHID,
        amount_fen=400,
        description="回退",
    )

    assert first.result == PROCESSING
    assert gw.balances(a)["frozen"] == 9_000
    assert (
        gw.profit_share_return_query(sub_mchid=a, out_order_no="S-a-1", out_return_no="RT-1").result
        == "SUCCESS"
    )
    assert gw.balances(a)["frozen"] == 9_400


def test_unfreeze_releases_the_rest_when_confirmed_and_ends_sharing(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)
    finish = dict(sub_mchid=a, transaction_id=parts[a].transaction_id, out_order_no="F-a", description="完结")

    with pytest.raises(GatewayError) as caught:  # a share still PROCESSING: try again later
        gw.profit_share_finish(**finish)
    assert retry_later(caught.value)
    query(gw, parts[a], "S-a-1")
    accepted = gw.profit_share_finish(**finish)

    assert accepted.status == PROCESSING
    assert gw.balances(a) == {"frozen": 9_000, "released": 0}
    assert gw.profit_share_finish(**finish) == accepted
    confirmed = query(gw, parts[a], "F-a")
    assert confirmed.status == FINISHED
    assert confirmed.finish_amount_fen == 9_000
    assert gw.balances(a) == {"frozen": 0, "released": 9_000}
    with pytest.raises(GatewayError):
        share(gw, parts[a], "S-a-2", 100)


def test_after_180_days_wechat_unfreezes_by_itself_and_refuses_shares_and_returns(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)
    query(gw, parts[a], "S-a-1")
    gw.control.advance_clock(150 * 86_400)
    share(gw, parts[a], "S-a-2", 500)  # day 150: still possible
    query(gw, parts[a], "S-a-2")
    gw.control.advance_clock(31 * 86_400)  # day 181

    with pytest.raises(GatewayError):
        share(gw, parts[a], "S-a-3", 100)
    assert gw.balances(a) == {"frozen": 0, "released": 10_000 - 1_500}
    with pytest.raises(GatewayError):  # the first share is 181 days old: too late to return
        gw.profit_share_return_create(
            sub_mchid=a,
            out_order_no="S-a-1",
            out_return_no="RT-1",
            return_mchid=PLATFORM_MCHID,
            amount_fen=100,
            description="回退",
        )
    returned = gw.profit_share_return_create(  # the second is 31 days old
        sub_mchid=a,
        out_order_no="S-a-2",
        out_return_no="RT-2",
        return_mchid=PLATFORM_MCHID,
        amount_fen=100,
        description="回退",
    )
    assert returned.result == "SUCCESS"
    assert gw.balances(a)["released"] == 10_000 - 1_500 + 100  # after the unfreeze, returns are released


def test_a_refund_after_a_share_needs_the_share_returned_first(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b, a_subsidy=0)
    share(gw, parts[a], "S-a-1", 1_000)
    query(gw, parts[a], "S-a-1")
    refund = dict(
        sub_mchid=a,
        out_trade_no=parts[a].out_trade_no,
        out_refund_no="R-1",
        refund_fen=10_000,
        total_fen=10_000,
        reason="退货",
    )

    with pytest.raises(GatewayError) as caught:
        gw.refund(**refund)
    assert caught.value.wechat_code == NOT_ENOUGH
    gw.profit_share_return_create(
        sub_mchid=a,
        out_order_no="S-a-1",
        out_return_no="RT-1",
        return_mchid=PLATFORM_MCHID,
        amount_fen=1_000,
        description="回退",
    )
    done = gw.refund(**refund)

    assert done.status == "SUCCESS"
    assert done.refund_fen == 10_000
    assert done.advance_fen == 0
    assert gw.refund(**refund) == done
    assert gw.balances(a) == {"frozen": 0, "released": 0}
    assert gw.refund_query(sub_mchid=a, out_refund_no="R-1") == done
    headers, body = gw.build_refund_callback(sub_mchid=a, out_refund_no="R-1")
    assert gw.parse_refund_callback(headers=headers, body=body) == done


def test_an_advance_refund_is_paid_by_the_platform_and_taken_back_later(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.profit_share_finish(
        sub_mchid=b, transaction_id=parts[b].transaction_id, out_order_no="F-b", description="完结"
    )
    query(gw, parts[b], "F-b")
    refund = dict(
        sub_mchid=b, out_trade_no=parts[b].out_trade_no, refund_fen=5_000, total_fen=5_000, reason="退"
    )

    advanced = gw.advance_refund(out_refund_no="R-b", **refund)

    assert advanced.advance_fen == 5_000
    assert gw.balances(b)["released"] == 5_000
    assert gw.balances(PLATFORM_MCHID)["released"] == -5_000
    back = gw.advance_return(sub_mchid=b, refund_id=advanced.refund_id)
    assert back.amount_fen == 5_000
    assert gw.advance_return(sub_mchid=b, refund_id=advanced.refund_id) == back
    assert gw.balances(b)["released"] == 0
    assert gw.balances(PLATFORM_MCHID)["released"] == 0
    with pytest.raises(GatewayError):  # nothing left to refund
        gw.refund(out_refund_no="R-b2", **{**refund, "refund_fen": 1})


def test_profit_share_callbacks_are_signed_and_parsed(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)

    gw.control.processing_polls(5)
    share(gw, parts[a], "S-a-2", 500)
    headers, body = gw.build_profit_share_callback(sub_mchid=a, out_order_no="S-a-1")
    notice = gw.parse_profit_share_callback(headers=headers, body=body)

    assert query(gw, parts[a], "S-a-1").status == FINISHED  # notified: done
    assert query(gw, parts[a], "S-a-2").status == PROCESSING

    assert (notice.event, notice.out_order_no, notice.amount_fen, notice.receiver_account) == (
        "SUCCESS",
        "S-a-1",
        1_000,
        PLATFORM_MCHID,
    )
    with pytest.raises(InvalidCallback):
        gw.parse_profit_share_callback(headers=headers, body=body.replace(b"1000", b"9000"))
    with pytest.raises(InvalidCallback):  # a payment notification is not a share's
        gw.parse_profit_share_callback(
            *(),
            **dict(
                zip(
                    ("headers", "body"),
                    gw.build_payment_callback(combine_out_trade_no="C240701000001"),
                    strict=True,
                )
            ),
        )


# --- bills ------------------------------------------------------------------------------


def test_bills_list_exactly_what_was_done(gw, two_merchants):
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    gw.subsidy_create(sub_mchid=a, transaction_id=parts[a].transaction_id, amount_fen=2_000, description="券")
    share(gw, parts[a], "S-a-1", 1_500)
    query(gw, parts[a], "S-a-1")
    gw.profit_share_return_create(
        sub_mchid=a,
        out_order_no="S-a-1",
        out_return_no="RT-1",
        return_mchid=PLATFORM_MCHID,
        amount_fen=500,
        description="回退",
    )
    gw.refund(
        sub_mchid=b,
        out_trade_no=parts[b].out_trade_no,
        out_refund_no="R-b",
        refund_fen=1_234,
        total_fen=5_000,
        reason="退",
    )
    day = TODAY()

    trade = list(gw.bill_download("trade", day))
    details = [line for line in trade if line.section == "detail"]
    assert [
        (line.get("out_trade_no"), line.get("trade_state"), line.fen("settlement_total")) for line in details
    ] == [
        (parts[a].out_trade_no, "SUCCESS", 10_000),
        (parts[b].out_trade_no, "SUCCESS", 5_000),
        (parts[b].out_trade_no, "REFUND", 0),
    ]
    assert details[2].get("out_refund_no") == "R-b"
    assert details[2].fen("refund_amount") == 1_234
    (summary,) = [line for line in trade if line.section == "summary"]
    assert summary.fen("应结订单总金额") == 15_000
    assert summary.fen("退款总金额") == 1_234

    refunds = [line for line in gw.bill_download("refund", day) if line.section == "detail"]
    assert [line.get("out_refund_no") for line in refunds] == ["R-b"]
    only_a = [line for line in gw.bill_download("trade", day, sub_mchid=a) if line.section == "detail"]
    assert [line.get("out_trade_no") for line in only_a] == [parts[a].out_trade_no]

    shares = [line for line in gw.bill_download("profitsharing", day) if line.section == "detail"]
    assert [
        (line.get("out_order_no"), line.get("share_type"), line.fen("share_amount")) for line in shares
    ] == [
        ("S-a-1", "分账", 1_500),
        ("RT-1", "分账回退", 500),
    ]

    flow_a = [line for line in gw.bill_download("fundflow", day, sub_mchid=a) if line.section == "detail"]
    signed = [line.fen("flow_amount") * (1 if line.get("direction") == "收入" else -1) for line in flow_a]
    assert [line.get("business_name") for line in flow_a] == ["交易", "补差", "分账", "分账回退"]
    assert sum(signed) == sum(gw.balances(a).values()) == 10_000 + 2_000 - 1_500 + 500
    assert all(line.sub_mchid == a for line in flow_a)
    flow_b = [line for line in gw.bill_download("fundflow", day, sub_mchid=b) if line.section == "detail"]
    assert [line.get("business_name") for line in flow_b] == ["交易", "退款"]
    platform = [line for line in gw.bill_download("fundflow", day) if line.section == "detail"]
    assert [line.get("business_name") for line in platform] == ["补差", "分账", "分账回退"]


def test_a_bill_of_another_day_is_empty_and_an_unready_one_says_retry(gw, two_merchants):
    a, b = two_merchants
    paid_combined(gw, a, b)

    lines = list(gw.bill_download("trade", TODAY() - datetime.timedelta(days=1)))
    assert [line.section for line in lines] == ["summary"]
    assert lines[0].fen("应结订单总金额") == 0
    gw.control.answer("bill_download", "BILL_NOT_READY")
    with pytest.raises(GatewayError) as caught:
        gw.bill_download("trade", TODAY())
    assert retry_later(caught.value)
    with pytest.raises(ValidationFailed):
        gw.bill_download("nonsense", TODAY())


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_retries_share_once_and_the_cap_holds(gw, two_merchants):
    """Workers racing on the same shares (retries) and on the cap: each share applied once,
    never more than 30 % shared, no fen lost."""
    a, b = two_merchants
    parts = paid_combined(gw, a, b)  # a: 10,000 → at most 3,000 shared
    gw.control.rate_limit(10_000)
    outcomes: list[str] = []

    def worker(n: int) -> None:
        for k in range(6):  # every worker tries the same six shares of 700 fen
            try:
                outcomes.append(share(gw, parts[a], f"S-{k}", 700).out_order_no)
            except GatewayError as exc:
                outcomes.append(exc.wechat_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    accepted = {no for no in outcomes if no.startswith("S-")}
    assert len(accepted) == 4  # 4 × 700 = 2,800 ≤ 3,000 < 5 × 700
    for no in accepted:
        assert query(gw, parts[a], no).status == FINISHED
    assert gw.balances(a)["frozen"] == 10_000 - 2_800
    assert gw.balances(PLATFORM_MCHID)["released"] == 2_800


# --- shared between processes -----------------------------------------------------------


def test_another_process_sees_the_same_sandbox(gw, two_merchants, settings):
    """The Celery worker is another process: it must see (and move) the same accounts."""
    a, b = two_merchants
    parts = paid_combined(gw, a, b)
    share(gw, parts[a], "S-a-1", 1_000)
    namespace = gw._s._prefix.split(":")[1]
    script = (
        "import django; django.setup();"
        "from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway as G;"
        f"g = G(namespace={namespace!r});"
        f"r = g.profit_share_query(sub_mchid={a!r}, transaction_id={parts[a].transaction_id!r},"
        " out_order_no='S-a-1');"
        "print(r.status, g.balances(r.sub_mchid)['frozen'])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings.test"}

    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)

    assert out.stdout.split() == ["FINISHED", "9000"]
    assert query(gw, parts[a], "S-a-1").status == FINISHED  # this process sees the worker's change
    assert gw.balances(PLATFORM_MCHID)["released"] == 1_000


def test_the_registry_function_builds_the_sandbox(settings):
    settings.SANDBOX = True
    assert ecommerce_gateway_get("sandbox").name == "sandbox"
