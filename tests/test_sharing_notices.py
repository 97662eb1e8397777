"""The e-commerce gateway's refund and profit-sharing notifications, end to end with the
sandbox's signed callbacks: ``POST /payments/{gateway}/ecommerce-refund-notify`` and
``…/ecommerce-profit-sharing-notify`` apply the news exactly as polling would, once; a
duplicate or late notice changes nothing; forged, unknown or mismatching ones write nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from orders.services.refunds import RefundLine, order_refund
from orders.tests.helpers import sandbox_pay
from rebates.models import OrderSettlement
from rebates.services.settlement import orders_settle
from shop.ledger.models import Account, Entry, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.gateways.sandbox import _signed
from shop.payments.models import FundsStep, Refund
from shop.payments.refunds import refund_send
from shop.testing.asserts import assert_error

from .profit_sharing import complete, frozen, kind_total, run_open_steps, sandbox, two_merchant_checkout

pytestmark = pytest.mark.django_db
SHARE_PATH = "/api/v1/payments/sandbox/ecommerce-profit-sharing-notify"
REFUND_PATH = "/api/v1/payments/sandbox/ecommerce-refund-notify"


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def _post(client, path: str, headers: dict, body: bytes):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.post(path, data=body, content_type="application/json", **extra)


def _written() -> tuple:
    return (
        sorted(FundsStep.objects.values_list("pk", "status", "gateway_id")),
        sorted(Refund.objects.values_list("pk", "status", "advance_fen", "gateway_refund_id")),
        Transaction.objects.count(),
        Entry.objects.count(),
    )


def _ledger_ok() -> None:
    call_command("ledger_check", stdout=io.StringIO(), stderr=io.StringIO())  # raises when off


def _shares_processing(coupon_fen: int = 500):
    """Two completed, settled orders whose shares WeChat accepted (``processing``)."""
    result, skus, member, _ = two_merchant_checkout(coupon_fen=coupon_fen)
    sandbox_pay(result.payment)
    run_open_steps("subsidy")
    orders = [complete(order) for order in sorted(result.orders, key=lambda o: o.pk)]
    orders_settle(order_ids=[o.pk for o in orders])
    assert run_open_steps("share") == ["processing", "processing"]
    return orders, skus, member


def _share_notice(step: FundsStep, *, event: str = "SUCCESS"):
    return sandbox().build_profit_share_callback(
        sub_mchid=step.part.sub_mchid, out_order_no=step.out_no, event=event
    )


# --- profit sharing -------------------------------------------------------------------------


def test_a_share_notice_confirms_the_share_as_polling_does_and_duplicates_change_nothing(api_client):
    orders, skus, _ = _shares_processing()
    steps = list(FundsStep.objects.filter(kind="share").select_related("part").order_by("order_id"))
    notices = [_share_notice(step) for step in steps]

    answers = [_post(api_client, SHARE_PATH, *notice) for notice in notices]
    after_first = _written()
    again = [_post(api_client, SHARE_PATH, *notice) for notice in notices * 2]  # WeChat retries

    assert [(a.status_code, a.json()) for a in answers + again] == [(200, {"code": "SUCCESS"})] * 6
    assert _written() == after_first
    for step in steps:
        step.refresh_from_db()
        assert step.status == FundsStep.Status.CONFIRMED
        assert step.gateway_id == json.loads(_share_notice(step)[1])["order_id"]
    # The money moved exactly as when polling sees FINISHED (test_sharing_settlement).
    m1, m2 = (sku.merchant_id for sku in skus)
    assert (kind_total("share_finished", m1), kind_total("share_finished", m2)) == (210, 316)
    assert OrderSettlement.objects.filter(order_id__in=[o.pk for o in orders]).count() == 2
    assert account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_CLEARING)) == 500 - 210 - 316
    assert run_open_steps("share") == []  # nothing left for polling to do
    _ledger_ok()


def test_polling_first_then_the_notice_changes_nothing(api_client):
    _shares_processing(coupon_fen=0)
    assert run_open_steps("share") == ["confirmed", "confirmed"]
    step = FundsStep.objects.filter(kind="share").select_related("part").first()
    before = _written()

    response = _post(api_client, SHARE_PATH, *_share_notice(step))

    assert response.status_code == 200
    assert _written() == before


def test_a_late_share_notice_leaves_a_failed_step_to_ops(api_client):
    _shares_processing(coupon_fen=0)
    step = FundsStep.objects.filter(kind="share").select_related("part").first()
    FundsStep.objects.filter(pk=step.pk).update(status=FundsStep.Status.FAILED, last_error="ops case")
    before = _written()

    response = _post(api_client, SHARE_PATH, *_share_notice(step))

    assert response.status_code == 200  # nothing to apply: WeChat may stop
    assert _written() == before


def test_a_share_return_notice_confirms_the_return_and_the_refund_follows(api_client):
    orders, skus, _ = _shares_processing()
    assert run_open_steps("share") == ["confirmed", "confirmed"]
    order, merchant_id = orders[0], skus[0].merchant_id
    sandbox().control.answer("profit_share_return_create", "PROCESSING", times=1)
    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=995)],
        reason="仲裁退款",
        key="late-complaint",
        by_ops=True,
    )
    assert run_open_steps("share_return") == ["processing"]
    step = FundsStep.objects.select_related("part").get(kind="share_return")

    response = _post(api_client, SHARE_PATH, *_share_notice(step, event="RETURN"))

    assert response.json() == {"code": "SUCCESS"}
    step.refresh_from_db()
    assert (step.status, step.amount_fen) == (FundsStep.Status.CONFIRMED, 112)
    assert kind_total("share_returned", merchant_id) == -112
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED  # no longer waits
    assert sandbox().balances(skus[0].merchant.sub_mchid)["frozen"] == 1_780 + 112 - 995
    _ledger_ok()


def _forged_share(step: FundsStep, **changes) -> tuple[dict, bytes]:
    data = json.loads(_share_notice(step)[1])
    receiver = {**data["receiver"], **changes.pop("receiver", {})}
    return _signed({**data, **changes, "receiver": receiver})


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"receiver": {"amount_fen": 1}}, id="another-amount"),
        pytest.param({"receiver": {"account": "1900000999"}}, id="another-receiver"),
        pytest.param({"receiver": {"type": "PERSONAL_OPENID"}}, id="a-person"),
        pytest.param({"sub_mchid": "1600009999"}, id="another-merchant"),
        pytest.param({"transaction_id": "4200000000000000000000000001"}, id="another-payment"),
        pytest.param({"event": "RETURN"}, id="a-return-of-a-share"),
        pytest.param({"event": "CLOSED"}, id="an-event-we-do-not-know"),
    ],
)
def test_a_signed_share_notice_that_does_not_match_the_step_is_409_and_writes_nothing(api_client, changes):
    _shares_processing(coupon_fen=0)
    step = FundsStep.objects.filter(kind="share").select_related("part").first()
    headers, body = _forged_share(step, **changes)
    before = _written()

    response = _post(api_client, SHARE_PATH, headers, body)

    assert_error(response, 409, "share_callback_mismatch")
    assert _written() == before


def test_share_notices_unsigned_or_of_an_unknown_step_write_nothing(api_client):
    _shares_processing(coupon_fen=0)
    step = FundsStep.objects.filter(kind="share").select_related("part").first()
    headers, body = _share_notice(step)
    before = _written()

    assert_error(_post(api_client, SHARE_PATH, headers, body + b" "), 401, "invalid_callback")
    assert_error(_post(api_client, SHARE_PATH, {}, body), 401, "invalid_callback")
    assert_error(
        _post(api_client, SHARE_PATH, *_forged_share(step, out_order_no="S999999")), 404, "not_found"
    )
    # A refund notice is not a share notice, even signed.
    refund_like = _signed({**json.loads(body), "type": "refund"})
    assert_error(_post(api_client, SHARE_PATH, *refund_like), 401, "invalid_callback")
    assert _written() == before


# --- refunds --------------------------------------------------------------------------------


def _refund_processing(*, advanced: bool = False):
    """A shared payment's refund (before any share) the sandbox accepted and is still working
    on; ``advanced``: the merchant was short, the platform advances it (垫付退款)."""
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0)
    sandbox_pay(result.payment)
    order = min(result.orders, key=lambda o: o.pk)
    gateway = sandbox()
    if advanced:
        gateway.control.answer("refund", "NOT_ENOUGH", times=1)
        gateway.control.answer("advance_refund", "PROCESSING", times=1)
    else:
        gateway.control.answer("refund", "PROCESSING", times=1)
    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=order.items.get().pk, amount_fen=1_000)],
        reason="破损",
        key="broken",
    )
    refund = refund_send(refund_id=refund.pk)
    assert refund.status == Refund.Status.PROCESSING
    return Refund.objects.select_related("part").get(pk=refund.pk), skus


def _refund_notice(refund: Refund, status: str | None = None):
    return sandbox().build_refund_callback(
        sub_mchid=refund.part.sub_mchid, out_refund_no=refund.out_refund_no, status=status
    )


def test_a_refund_notice_settles_the_refund_from_the_frozen_funds_once(api_client):
    refund, skus = _refund_processing()
    merchant_id = skus[0].merchant_id
    headers, body = _refund_notice(refund)

    answers = [_post(api_client, REFUND_PATH, headers, body) for _ in range(3)]

    assert [(a.status_code, a.json()) for a in answers] == [(200, {"code": "SUCCESS"})] * 3
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.gateway_refund_id == json.loads(body)["refund_id"]
    assert Transaction.objects.filter(idempotency_key=f"refund:{refund.pk}:succeeded").count() == 1
    assert kind_total("refund_from_frozen", merchant_id) == 1_000
    assert frozen(merchant_id) == -(1_990 - 1_000)
    assert refund_send(refund_id=refund.pk).status == Refund.Status.SUCCEEDED  # polling: nothing new
    _ledger_ok()


@pytest.mark.parametrize(("status", "kind"), [("CLOSED", "closed"), ("ABNORMAL", "abnormal")])
def test_a_closed_or_abnormal_refund_notice_fails_it_and_a_later_success_changes_nothing(
    api_client, status, kind
):
    refund, _ = _refund_processing()

    assert _post(api_client, REFUND_PATH, *_refund_notice(refund, status=status)).status_code == 200
    refund.refresh_from_db()
    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, kind)
    before = _written()

    assert _post(api_client, REFUND_PATH, *_refund_notice(refund)).status_code == 200  # late SUCCESS
    assert _written() == before


def test_an_advanced_refunds_notice_books_the_advance_even_before_the_senders_answer(api_client):
    from merchants.models import DepositMovement
    from merchants.tests.factories import pay_deposit

    refund, skus = _refund_processing(advanced=True)
    pay_deposit(skus[0].merchant, 50_000)
    # As if the notice beat our own record of the apply answer's advance.
    Refund.objects.filter(pk=refund.pk).update(advance_fen=0)
    headers, body = _refund_notice(refund)
    assert json.loads(body)["advance_fen"] == 1_000

    assert _post(api_client, REFUND_PATH, headers, body).status_code == 200

    refund.refresh_from_db()
    assert (refund.status, refund.advance_fen) == (Refund.Status.SUCCEEDED, 1_000)
    assert kind_total("refund_from_frozen", skus[0].merchant_id) == 0  # paid by the platform's advance
    assert DepositMovement.objects.filter(kind="advance_refund", amount_fen=-1_000).count() == 1
    _ledger_ok()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"refund_fen": 999}, id="another-amount"),
        pytest.param({"out_trade_no": "P0000000000000"}, id="another-sub-order"),
        pytest.param({"sub_mchid": "1600009999"}, id="another-merchant"),
        pytest.param({"advance_fen": 1_001}, id="advance-beyond-the-refund"),
    ],
)
def test_a_signed_refund_notice_that_does_not_match_the_refund_is_409_and_writes_nothing(api_client, changes):
    refund, _ = _refund_processing()
    data = json.loads(_refund_notice(refund)[1])
    before = _written()

    response = _post(api_client, REFUND_PATH, *_signed({**data, **changes}))

    assert_error(response, 409, "refund_callback_mismatch")
    assert _written() == before


def test_refund_notices_unsigned_or_of_an_unknown_refund_write_nothing(api_client):
    refund, _ = _refund_processing()
    headers, body = _refund_notice(refund)
    data = json.loads(body)
    before = _written()

    assert_error(
        _post(api_client, REFUND_PATH, headers, body.replace(b"1000", b"9000")), 401, "invalid_callback"
    )
    assert_error(
        _post(api_client, REFUND_PATH, *_signed({**data, "out_refund_no": "RF-unknown"})), 404, "not_found"
    )
    assert _written() == before


def test_a_platform_refund_number_on_the_ecommerce_endpoint_is_a_mismatch(api_client):
    from shop.payments.refunds import refund_request
    from shop.payments.tests.helpers import REFUND_PURPOSE, REVENUE, make_paid_payment, purposes_for_tests

    with purposes_for_tests():
        payment = make_paid_payment(gateway="sandbox", amount_fen=1_990)
        refund = refund_request(
            payment_id=payment.pk,
            amount_fen=700,
            purpose=REFUND_PURPOSE,
            ref_id=None,
            reason="x",
            key="direct",
            debits=[(REVENUE, 700)],
        )
        forged = {
            "type": "refund",
            "sub_mchid": "1600000001",
            "out_refund_no": refund.out_refund_no,
            "refund_id": "sandbox-refund",
            "out_trade_no": payment.out_trade_no,
            "status": "SUCCESS",
            "refund_fen": 700,
            "advance_fen": 0,
        }
        before = _written()

        response = _post(api_client, REFUND_PATH, *_signed(forged))

    assert_error(response, 409, "refund_callback_mismatch")
    assert _written() == before
