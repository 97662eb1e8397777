"""Signed callbacks whose fields do not fit our columns: never a 500, never a stop-retrying
answer for something we did not record (issue 19, item 3).

Every body here carries a valid sandbox signature, so the only defence is the field checks
of ``shop/payments/gateways/fields.py`` that every adapter's parser goes through.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from shop.ledger.models import Entry, Transaction
from shop.payments.gateways.fields import MAX_CALLBACK_FEN
from shop.payments.gateways.sandbox import SIGNATURE_HEADER, _sign
from shop.payments.models import Payment, PaymentAnomaly, Payout, Refund
from shop.testing.asserts import assert_error

from .helpers import make_payment

pytestmark = pytest.mark.django_db
HEADER = f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}"

BIGINT_MAX = 2**63 - 1

# Values no gateway field of ours may take: beyond bigint, negative, the wrong JSON type.
BAD_AMOUNTS = [
    pytest.param(BIGINT_MAX + 1, id="beyond-bigint"),
    pytest.param(10**30, id="far-beyond-bigint"),
    pytest.param(MAX_CALLBACK_FEN + 1, id="beyond-wechat-int"),
    pytest.param(-1, id="negative"),
    pytest.param(1990.0, id="float"),
    pytest.param(1990.9, id="fraction"),
    pytest.param("1990", id="string"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="null"),
    pytest.param([1990], id="list"),
]
BAD_IDS = [
    pytest.param("x" * 65, id="over-long"),
    pytest.param("x" * 100_000, id="100k"),
    pytest.param("T\x001", id="nul"),
    pytest.param(4200000001, id="number"),
    pytest.param("", id="empty"),
    pytest.param({"a": 1}, id="object"),
]


def _post(path: str, payload: object | bytes):
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    return APIClient().post(path, data=body, content_type="application/json", **{HEADER: _sign(body)})


def _written() -> tuple:
    return (
        sorted(Payment.objects.values_list("pk", "status", "gateway_txn_id")),
        PaymentAnomaly.objects.count(),
        sorted(Refund.objects.values_list("pk", "status", "gateway_refund_id")),
        sorted(Payout.objects.values_list("pk", "state", "transfer_bill_no", "fail_reason")),
        Transaction.objects.count(),
        Entry.objects.count(),
    )


def _payment_callback(payment: Payment, **overrides) -> dict:
    return {
        "out_trade_no": payment.out_trade_no,
        "transaction_id": "4200000001",
        "amount_fen": payment.amount_fen,
        "trade_state": "SUCCESS",
        **overrides,
    }


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_signed_payment_callback_with_an_impossible_amount_is_refused_and_writes_nothing(amount):
    # given a pending payment and a signed success callback whose amount does not fit
    payment = make_payment()
    before = _written()

    # when
    response = _post("/api/v1/payments/sandbox/notify", _payment_callback(payment, amount_fen=amount))

    # then: a 4xx (the gateway keeps retrying: nothing was recorded), not a 500
    assert_error(response, 401, "invalid_callback")
    assert _written() == before


@pytest.mark.parametrize("field", ["out_trade_no", "transaction_id"])
@pytest.mark.parametrize("value", BAD_IDS)
def test_a_signed_payment_callback_with_an_unusable_id_is_refused(field, value):
    payment = make_payment()
    before = _written()

    response = _post("/api/v1/payments/sandbox/notify", _payment_callback(payment, **{field: value}))

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"out_trade_no":"A","transaction_id":"T","amount_fen":NaN}', id="nan"),
        pytest.param(b'{"out_trade_no":"A","transaction_id":"T","amount_fen":Infinity}', id="infinity"),
        pytest.param(b'{"out_trade_no":"A","amount_fen":1' + b"0" * 5000 + b"}", id="5000-digit-int"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="deeply-nested"),
        pytest.param(b'{"out_trade_no":"A","note":"\\u0000"}', id="nul-in-another-field"),
        pytest.param(b'{"out_trade_no":"A"}\xff', id="not-utf8"),
    ],
)
def test_a_signed_body_that_cannot_be_stored_is_refused(body):
    payment = make_payment()
    body = body.replace(b'"A"', json.dumps(payment.out_trade_no).encode())
    before = _written()

    response = _post("/api/v1/payments/sandbox/notify", body)

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


def test_an_amount_mismatch_at_the_largest_gateway_amount_is_recorded_and_answered_success():
    # given the largest amount a gateway can report, unlike the payment's
    payment = make_payment()

    # when
    response = _post(
        "/api/v1/payments/sandbox/notify", _payment_callback(payment, amount_fen=MAX_CALLBACK_FEN)
    )

    # then: recorded for ops (so the gateway may stop retrying), the amount kept exactly
    assert response.status_code == 200, response.content
    anomaly = PaymentAnomaly.objects.get(payment=payment)
    assert anomaly.reported_amount_fen == MAX_CALLBACK_FEN
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED
    call_command("ledger_check")  # raises when the books disagree


def _refund_callback(**overrides) -> dict:
    return {
        "out_refund_no": "R1",
        "refund_id": "sandbox-refund-R1",
        "out_trade_no": "P1",
        "status": "SUCCESS",
        "refund_fen": 100,
        **overrides,
    }


def _transfer_callback(**overrides) -> dict:
    return {
        "out_bill_no": "W1",
        "transfer_bill_no": "sandbox-transfer-W1",
        "state": "SUCCESS",
        "amount_fen": 100,
        "fail_reason": "",
        **overrides,
    }


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        *[
            pytest.param(
                "refund-notify", _refund_callback(refund_fen=amount.values[0]), id=f"refund-{amount.id}"
            )
            for amount in BAD_AMOUNTS
        ],
        *[
            pytest.param(
                "refund-notify", _refund_callback(**{field: value.values[0]}), id=f"{field}-{value.id}"
            )
            for field in ("out_refund_no", "refund_id", "out_trade_no", "status")
            for value in BAD_IDS
        ],
    ],
)
def test_a_signed_refund_callback_with_unusable_fields_is_refused(path, payload):
    before = _written()

    response = _post(f"/api/v1/payments/sandbox/{path}", payload)

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


@pytest.mark.parametrize(
    "payload",
    [
        *[pytest.param(_transfer_callback(amount_fen=a.values[0]), id=f"amount-{a.id}") for a in BAD_AMOUNTS],
        *[
            pytest.param(_transfer_callback(**{field: value.values[0]}), id=f"{field}-{value.id}")
            for field in ("out_bill_no", "transfer_bill_no", "state")
            for value in BAD_IDS
        ],
        pytest.param(_transfer_callback(fail_reason=7), id="fail_reason-number"),
    ],
)
def test_a_signed_transfer_callback_with_unusable_fields_is_refused(payload):
    before = _written()

    response = _post("/api/v1/payouts/sandbox/notify", payload)

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


def test_a_value_that_still_does_not_fit_is_a_4xx_not_a_500():
    # The backstop behind the field checks: a DataError while applying (a column a future
    # parser forgets to check) rolls back and is refused, so the gateway keeps retrying.
    from unittest import mock

    from django.db import DataError

    payment = make_payment()
    before = _written()

    with mock.patch("shop.payments.api.views.payment_apply_result", side_effect=DataError("value too long")):
        response = _post("/api/v1/payments/sandbox/notify", _payment_callback(payment))

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


# --- the e-commerce gateway's refund and profit-sharing notifications ------------------------


def _ecommerce_refund_callback(**overrides) -> dict:
    return {
        "type": "refund",
        "sub_mchid": "1600000001",
        "out_refund_no": "RF2407011200001",
        "refund_id": "sbxrefund0001",
        "out_trade_no": "P1",
        "status": "SUCCESS",
        "refund_fen": 100,
        "advance_fen": 0,
        **overrides,
    }


def _share_callback(*, receiver: dict | None = None, **overrides) -> dict:
    return {
        "type": "profitsharing",
        "event": "SUCCESS",
        "sub_mchid": "1600000001",
        "transaction_id": "4200000001",
        "order_id": "3008000001",
        "out_order_no": "S1",
        "receiver": {
            "type": "MERCHANT_ID",
            "account": "1900000000",
            "amount_fen": 100,
            "description": "平台佣金",
            **(receiver or {}),
        },
        **overrides,
    }


ECOMMERCE_BAD_FIELDS = [
    *[
        pytest.param(
            "ecommerce-refund-notify",
            _ecommerce_refund_callback(**{field: amount.values[0]}),
            id=f"refund-{field}-{amount.id}",
        )
        for field in ("refund_fen", "advance_fen")
        for amount in BAD_AMOUNTS
    ],
    *[
        pytest.param(
            "ecommerce-refund-notify",
            _ecommerce_refund_callback(**{field: value.values[0]}),
            id=f"refund-{field}-{value.id}",
        )
        for field in ("sub_mchid", "out_refund_no", "refund_id", "out_trade_no", "status")
        for value in BAD_IDS
    ],
    pytest.param(
        "ecommerce-refund-notify", _ecommerce_refund_callback(out_trade_no="P" * 33), id="long-our-no"
    ),
    *[
        pytest.param(
            "ecommerce-profit-sharing-notify",
            _share_callback(receiver={"amount_fen": amount.values[0]}),
            id=f"share-amount-{amount.id}",
        )
        for amount in BAD_AMOUNTS
    ],
    *[
        pytest.param(
            "ecommerce-profit-sharing-notify",
            _share_callback(**{field: value.values[0]}),
            id=f"share-{field}-{value.id}",
        )
        for field in ("event", "sub_mchid", "transaction_id", "order_id", "out_order_no")
        for value in BAD_IDS
    ],
    *[
        pytest.param(
            "ecommerce-profit-sharing-notify",
            _share_callback(receiver={field: value.values[0]}),
            id=f"share-receiver-{field}-{value.id}",
        )
        for field in ("type", "account")
        for value in BAD_IDS
    ],
    pytest.param(
        "ecommerce-profit-sharing-notify",
        _share_callback(receiver={"description": 7}),
        id="description-number",
    ),
    pytest.param(
        "ecommerce-profit-sharing-notify", _share_callback(receiver=None) | {"receiver": []}, id="no-receiver"
    ),
]


@pytest.mark.parametrize(("path", "payload"), ECOMMERCE_BAD_FIELDS)
def test_a_signed_ecommerce_notice_with_unusable_fields_is_refused(path, payload):
    before = _written()

    response = _post(f"/api/v1/payments/sandbox/{path}", payload)

    assert_error(response, 401, "invalid_callback")
    assert _written() == before


@pytest.mark.parametrize("path", ["ecommerce-refund-notify", "ecommerce-profit-sharing-notify"])
def test_a_value_that_still_does_not_fit_an_ecommerce_notice_is_a_4xx_not_a_500(path):
    # The backstop: a DataError while applying rolls back and is refused (WeChat retries).
    from unittest import mock

    from django.db import DataError

    target = {
        "ecommerce-refund-notify": "shop.payments.api.views.ecommerce_refund_apply_notice",
        "ecommerce-profit-sharing-notify": "shop.payments.api.views.ecommerce_share_apply_notice",
    }[path]
    payload = _ecommerce_refund_callback() if "refund" in path else _share_callback()
    before = _written()

    with mock.patch(target, side_effect=DataError("value too long")):
        response = _post(f"/api/v1/payments/sandbox/{path}", payload)

    assert_error(response, 401, "invalid_callback")
    assert _written() == before
