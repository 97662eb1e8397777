"""A shared payment's anomaly is refunded automatically (shop/payments/parts_anomalies.py):
the money that arrived in each merchant's frozen funds is booked per reported part and
refunded in full from there, once, and ``ledger_check`` holds afterwards."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from orders.services.lifecycle import order_cancel
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.gateways.ecommerce_sandbox import sandbox_sub_mchid
from shop.payments.models import AnomalyPart, Payment, PaymentAnomaly, Refund
from shop.payments.parts import payment_apply_ecommerce
from shop.payments.parts_anomalies import ANOMALY_FUNDS_CHECK
from shop.payments.refunds import ANOMALY_PURPOSE, refunds_sweep
from shop.payments.services import Applied, payment_client_params

from .profit_sharing import declared_sub_orders, frozen, pay_at_gateway, sandbox, two_merchant_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def anomaly_funds(merchant_id: int | None) -> int:
    if merchant_id is None:
        return account_balance(ref=AccountRef.platform(Account.Kind.MERCHANT_ANOMALY))
    return account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_ANOMALY, merchant_id))


def refund_clearing() -> int:
    return account_balance(ref=AccountRef.platform(Account.Kind.REFUND_CLEARING))


def ledger_check() -> str:
    """``ledger_check``'s report: empty when the books hold."""
    err = io.StringIO()
    try:
        call_command("ledger_check", stdout=io.StringIO(), stderr=err)
    except (CommandError, SystemExit) as exc:
        return f"{err.getvalue()}\n{exc}"
    return ""


def send_refunds() -> int:
    """The refunds sweeper a minute on (the on-commit task does not run in these tests)."""
    return refunds_sweep(timezone.now() + timedelta(minutes=2))


def _assert_refunded_in_full(payment: Payment, expected: dict[int | None, int], sub_mchids: dict):
    """Every anomaly refund succeeded, each merchant's anomaly funds are back to 0 (and were
    −``expected`` before), the sandbox merchants have nothing frozen, the books hold."""
    refunds = Refund.objects.filter(payment=payment, purpose=ANOMALY_PURPOSE)
    assert set(refunds.values_list("status", flat=True)) == {Refund.Status.SUCCEEDED}
    assert {m: anomaly_funds(m) for m in expected} == dict.fromkeys(expected, 0)
    assert refund_clearing() == 0
    for sub_mchid in sub_mchids.values():
        assert sandbox().balances(sub_mchid)["frozen"] == 0
    assert PaymentAnomaly.objects.get(payment=payment).is_resolved
    assert ledger_check() == ""


def test_an_amount_mismatch_on_a_single_part_payment_is_refunded_from_the_merchants_funds():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    payment, merchant = result.payment, skus[0].merchant
    (declared,) = declared_sub_orders(payment)
    callback = pay_at_gateway(payment, [replace(declared, amount_fen=declared.amount_fen - 90)])

    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED  # nothing sold
    (part,) = AnomalyPart.objects.all()
    assert (part.merchant_id, part.sub_mchid, part.amount_fen) == (merchant.pk, merchant.sub_mchid, 1_900)
    assert (part.refund.amount_fen, part.refund.total_fen, part.refund.status) == (1_900, 1_900, "pending")
    # Booked where it arrived (the merchant's funds, kept apart from its own frozen money), owed back.
    assert anomaly_funds(merchant.pk) == -1_900
    assert refund_clearing() == 1_900
    assert frozen(merchant.pk) == 0
    assert sandbox().balances(merchant.sub_mchid)["frozen"] == 1_900
    assert ledger_check() == ""  # in flight: the checks hold too

    assert send_refunds() == 1
    _assert_refunded_in_full(payment, {merchant.pk: 1_900}, {merchant.pk: merchant.sub_mchid})


def test_an_amount_mismatch_on_a_combined_payment_refunds_every_part_under_its_own_key():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0)
    payment = result.payment
    first, second = declared_sub_orders(payment)
    callback = pay_at_gateway(payment, [first, replace(second, amount_fen=2_000)])

    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY

    parts = list(AnomalyPart.objects.order_by("pk"))
    assert [(p.out_trade_no, p.amount_fen) for p in parts] == [
        (first.out_trade_no, 1_990),  # a part as declared is refunded too: nothing was sold
        (second.out_trade_no, 2_000),
    ]
    anomaly = PaymentAnomaly.objects.get()
    assert (anomaly.kind, anomaly.reported_amount_fen) == ("amount_mismatch", 3_990)
    assert [p.refund.key for p in parts] == [f"payment-anomaly:{anomaly.pk}:part:{p.pk}" for p in parts]
    m1, m2 = (sku.merchant_id for sku in skus)
    assert (anomaly_funds(m1), anomaly_funds(m2)) == (-1_990, -2_000)

    assert send_refunds() == 2
    _assert_refunded_in_full(
        payment, {m1: 1_990, m2: 2_000}, {sku.merchant_id: sku.merchant.sub_mchid for sku in skus}
    )


def test_a_part_we_never_declared_is_booked_and_refunded_from_whoever_got_it():
    """A reported sub-order that is none of ours (another number, a sub_mchid we do not know)."""
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0)
    payment = result.payment
    first, second = declared_sub_orders(payment)
    stranger = replace(
        second,
        sub_mchid=sandbox_sub_mchid("not-ours"),
        out_trade_no=f"{payment.out_trade_no}09",
        amount_fen=70,
    )
    callback = pay_at_gateway(payment, [first, second, stranger])

    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY

    unknown = AnomalyPart.objects.get(out_trade_no=stranger.out_trade_no)
    assert (unknown.merchant_id, unknown.amount_fen) == (None, 70)
    assert anomaly_funds(None) == -70  # the platform's anomaly account: no merchant of ours
    assert send_refunds() == 3
    assert sandbox().balances(stranger.sub_mchid)["frozen"] == 0
    _assert_refunded_in_full(
        payment,
        {skus[0].merchant_id: 1_990, skus[1].merchant_id: 2_990, None: 70},
        {sku.merchant_id: sku.merchant.sub_mchid for sku in skus},
    )


@pytest.mark.parametrize("merchants", [1, 2], ids=["single-part", "combined"])
def test_paid_after_close_is_refunded_in_full_once_whatever_the_callback_repeats(merchants):
    result, skus, member, _ = two_merchant_checkout(coupon_fen=0, merchants=merchants)
    payment = result.payment
    payment_client_params(payment=payment, openid=member.openid)
    callback = pay_at_gateway(payment)
    order_cancel(order_id=result.orders[0].pk, actor=member)  # closes the payment meanwhile

    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY
    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY  # WeChat retries
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.PAID_AFTER_CLOSE
    assert Refund.objects.filter(purpose=ANOMALY_PURPOSE).count() == merchants  # one per part, once

    assert send_refunds() == merchants
    assert payment_apply_ecommerce(gateway="sandbox", result=callback) == Applied.ANOMALY  # and after
    assert send_refunds() == 0
    assert Refund.objects.filter(purpose=ANOMALY_PURPOSE).count() == merchants
    amounts = {sku.merchant_id: sku.price_fen for sku in skus}
    _assert_refunded_in_full(payment, amounts, {sku.merchant_id: sku.merchant.sub_mchid for sku in skus})
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CLOSED


def test_a_merchant_short_of_funds_fails_the_anomaly_refund_for_ops_never_advanced():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    payment = result.payment
    (declared,) = declared_sub_orders(payment)
    payment_apply_ecommerce(
        gateway="sandbox", result=pay_at_gateway(payment, [replace(declared, amount_fen=1_000)])
    )
    sandbox().control.answer("refund", "NOT_ENOUGH")

    send_refunds()

    refund = Refund.objects.get(purpose=ANOMALY_PURPOSE)
    assert (refund.status, refund.advance_fen) == (Refund.Status.FAILED, 0)
    assert refund_clearing() == 1_000  # waiting for ops (admin: Refunds, failed)
    assert not PaymentAnomaly.objects.get().is_resolved
    assert ledger_check() == ""


def test_the_check_reports_an_anomaly_part_changed_by_hand():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    (declared,) = declared_sub_orders(result.payment)
    payment_apply_ecommerce(
        gateway="sandbox", result=pay_at_gateway(result.payment, [replace(declared, amount_fen=1_000)])
    )
    AnomalyPart.objects.update(amount_fen=900)

    report = ledger_check()

    assert ANOMALY_FUNDS_CHECK in report
    assert f"anomaly funds of merchant {skus[0].merchant_id}" in report
    assert "expected -900 fen, found -1000 fen" in report


def test_ops_see_each_part_and_its_refund_on_the_anomaly_in_admin(client, django_user_model):
    result, _, _, _ = two_merchant_checkout(coupon_fen=0)
    first, second = declared_sub_orders(result.payment)
    payment_apply_ecommerce(
        gateway="sandbox", result=pay_at_gateway(result.payment, [first, replace(second, amount_fen=2_000)])
    )
    client.force_login(django_user_model.objects.create_superuser(username="ops", password="pw-ops-123"))

    page = client.get(f"/admin/payments/paymentanomaly/{PaymentAnomaly.objects.get().pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert first.out_trade_no in text
    assert second.out_trade_no in text
    assert text.count("To be sent to the gateway") == 2  # each part's own refund
