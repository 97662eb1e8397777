"""Checkouts paid by profit sharing: parts, the combined or partner payment, the callback
applied once, the paid posting on merchant_frozen, the subsidy step (docs/merchant-money.md)."""

import pytest

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.errors import MerchantNotShareable
from orders.models import Order
from orders.services.lifecycle import order_cancel
from orders.tests.helpers import buy, sandbox_pay
from products.tests.factories import SkuFactory
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import FundsStep, Payment, PaymentPart
from shop.payments.parts import payment_apply_ecommerce
from shop.payments.services import Applied, payment_client_params, payment_close_at_gateway
from shop.payments.steps import funds_step_retry

from .profit_sharing import frozen, kind_total, receivable, run_open_steps, sandbox, two_merchant_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shared(settings):
    settings.MERCHANT_FUNDS = "profit_sharing"


def test_a_two_merchant_checkout_is_one_combined_payment_with_a_part_per_order():
    result, skus, member, _ = two_merchant_checkout(coupon_fen=500)

    payment = result.payment
    parts = list(PaymentPart.objects.filter(payment=payment).order_by("pk"))
    assert payment.funds == Payment.Funds.SHARED
    # Coupon split by sale amount: 500 × 1,990 / 4,980 → 199 (rounded down), the last takes 301.
    assert [(p.sub_mchid, p.amount_fen, p.subsidy_fen) for p in parts] == [
        (skus[0].merchant.sub_mchid, 1_990 - 199, 199),
        (skus[1].merchant.sub_mchid, 2_990 - 301, 301),
    ]
    assert [p.out_trade_no for p in parts] == [f"{payment.out_trade_no}01", f"{payment.out_trade_no}02"]
    params = payment_client_params(payment=payment, openid=member.openid)
    assert params["combine_out_trade_no"] == payment.out_trade_no


def test_the_callback_applies_every_part_once_and_books_the_frozen_funds():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=500)
    payment = result.payment

    assert sandbox_pay(payment) == Applied.APPLIED
    assert sandbox_pay(payment) == Applied.DUPLICATE  # WeChat retries: answered, nothing twice

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert all(p.transaction_id for p in PaymentPart.objects.filter(payment=payment))
    assert set(Order.objects.filter(payment=payment).values_list("status", flat=True)) == {"paid"}
    m1, m2 = (sku.merchant_id for sku in skus)
    assert (frozen(m1), frozen(m2)) == (-1_791, -2_689)
    assert kind_total("order_paid_shared", m1) == -1_791
    # Receivable: the sale, less the commission accrued at payment (199 and 299).
    assert (receivable(m1), receivable(m2)) == (1_990 - 199, 2_990 - 299)
    # Never through the platform's own gateway clearing.
    assert account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_CLEARING)) == 0
    assert FundsStep.objects.filter(kind="subsidy").count() == 2


def test_a_single_merchant_checkout_is_a_partner_payment():
    result, skus, member, _ = two_merchant_checkout(coupon_fen=0, merchants=1)
    part = PaymentPart.objects.get(payment=result.payment)
    assert part.out_trade_no == result.payment.out_trade_no
    params = payment_client_params(payment=result.payment, openid=member.openid)
    assert params["sub_mchid"] == skus[0].merchant.sub_mchid

    assert sandbox_pay(result.payment) == Applied.APPLIED
    assert not FundsStep.objects.exists()  # no platform coupon, no subsidy


def test_a_merchant_without_sub_mchid_is_refused_with_409_and_nothing_written():
    store, _, (member,) = make_store(members=1)
    sku = SkuFactory(product__merchant=MerchantStaffFactory(merchant__sub_mchid="").merchant)

    with pytest.raises(MerchantNotShareable) as refused:
        buy(buyer=member, store=store, sku=sku)

    assert refused.value.http_status == 409
    assert not Payment.objects.exists()
    assert not Order.objects.exists()


def test_the_subsidy_is_paid_into_the_frozen_funds_once_after_not_settled_and_a_retry():
    result, skus, _, _ = two_merchant_checkout(coupon_fen=500)
    sandbox_pay(result.payment)
    gateway = sandbox()
    gateway.control.answer("subsidy_create", "NOT_SETTLED", times=1)
    gateway.control.answer("subsidy_create", "FREQUENCY_LIMITED", times=1)

    assert run_open_steps("subsidy") == ["pending", "pending"]  # both told to come back later
    assert run_open_steps("subsidy") == ["confirmed", "confirmed"]
    assert run_open_steps("subsidy") == []  # nothing left, nothing sent twice

    m1, m2 = (sku.merchant_id for sku in skus)
    assert (kind_total("subsidy_paid", m1), kind_total("subsidy_paid", m2)) == (-199, -301)
    assert (frozen(m1), frozen(m2)) == (-1_990, -2_990)  # the whole sale is now frozen for them
    assert gateway.balances(skus[0].merchant.sub_mchid)["frozen"] == 1_990
    assert account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_CLEARING)) == 500


def test_a_refused_subsidy_is_an_ops_case_and_ops_can_send_it_again():
    result, _, _, _ = two_merchant_checkout(coupon_fen=500)
    sandbox_pay(result.payment)
    gateway = sandbox()
    gateway.control.answer("subsidy_create", "NOT_ENOUGH", times=1)

    run_open_steps("subsidy")
    failed = FundsStep.objects.get(status="failed")
    assert "NOT_ENOUGH" in failed.last_error

    assert funds_step_retry(step_id=failed.pk) is True
    assert run_open_steps("subsidy") == ["confirmed"]


def test_cancelling_an_unpaid_shared_checkout_closes_the_combined_payment_as_a_whole():
    result, skus, member, _ = two_merchant_checkout(coupon_fen=0)
    payment_client_params(payment=result.payment, openid=member.openid)

    order_cancel(order_id=result.orders[0].pk, actor=member)
    assert payment_close_at_gateway(payment_id=result.payment.pk) == "closed"

    answer = sandbox().combine_query(result.payment.out_trade_no)
    assert {p.trade_state for p in answer.parts} == {"CLOSED"}


def test_a_shared_payment_paid_after_close_is_an_anomaly_not_a_sale():
    result, _, member, _ = two_merchant_checkout(coupon_fen=0)
    payment_client_params(payment=result.payment, openid=member.openid)
    gateway = sandbox()
    headers, body = gateway.simulate_payment(combine_out_trade_no=result.payment.out_trade_no)
    order_cancel(order_id=result.orders[0].pk, actor=member)

    outcome = payment_apply_ecommerce(
        gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body)
    )

    assert outcome == Applied.ANOMALY
    assert Payment.objects.get(pk=result.payment.pk).status == Payment.Status.CLOSED


def _post_callback(client, headers: dict, body: bytes):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.post(
        "/api/v1/payments/sandbox/ecommerce-notify", data=body, content_type="application/json", **extra
    )


def test_the_ecommerce_callback_applies_once_and_refuses_bad_fields_without_a_500(api_client):
    from shop.payments.gateways.sandbox import _signed

    result, _, member, _ = two_merchant_checkout(coupon_fen=0)
    payment_client_params(payment=result.payment, openid=member.openid)
    headers, body = sandbox().simulate_payment(combine_out_trade_no=result.payment.out_trade_no)

    assert _post_callback(api_client, headers, body).json() == {"code": "SUCCESS"}
    assert _post_callback(api_client, headers, body).status_code == 200  # WeChat retries: once
    assert _post_callback(api_client, headers, body + b" ").status_code == 401  # not signed
    forged = {
        "type": "payment",
        "combine_out_trade_no": result.payment.out_trade_no,
        "sub_orders": [
            {
                "sub_mchid": "x",
                "out_trade_no": "y" * 5000,
                "transaction_id": "z" * 5000,
                "amount_fen": 1,
                "trade_state": "SUCCESS",
            }
        ],
    }
    answer = _post_callback(api_client, *_signed(forged))
    assert answer.status_code in (200, 401, 404)  # never a 500
    assert Payment.objects.get(pk=result.payment.pk).status == Payment.Status.SUCCEEDED


def test_a_paid_combined_payment_reconciles_with_the_sandboxs_trade_bill_part_by_part():
    """The trade bill lists a combined payment's sub-orders, not the payment: each part is
    matched by its own out_trade_no and amount (``payment_parts_ours``), and the payment itself
    is not reported missing at the gateway."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from shop.payments.models import PaymentPart, ReconciliationCase
    from shop.payments.reconciliation import bill_reconcile

    result, _, member, _ = two_merchant_checkout(coupon_fen=0)
    payment_client_params(payment=result.payment, openid=member.openid)
    gateway = sandbox()
    headers, body = gateway.simulate_payment(combine_out_trade_no=result.payment.out_trade_no)
    payment_apply_ecommerce(
        gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body)
    )
    day = timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).date()

    bill = bill_reconcile(gateway="sandbox", kind="trade", bill_date=day)

    assert bill.line_count == PaymentPart.objects.filter(payment=result.payment).count() == 2
    assert list(ReconciliationCase.objects.values_list("kind", "key")) == []


def test_a_shared_payment_is_never_applied_by_the_platform_s_own_payment_callback():
    """Its money went to the merchants' frozen funds: only the e-commerce notification, with
    a transaction per part, applies it; the platform callback's path does not know it."""
    from shop.errors import NotFound
    from shop.payments.gateways.base import PaymentResult
    from shop.payments.services import payment_apply_result

    result, _, _, _ = two_merchant_checkout(coupon_fen=0)
    payment = result.payment
    forged_as_ours = PaymentResult(
        out_trade_no=payment.out_trade_no,
        transaction_id="4200000000000000000001",
        amount_fen=payment.amount_fen,
        succeeded=True,
    )

    with pytest.raises(NotFound):
        payment_apply_result(gateway=payment.gateway, result=forged_as_ours)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED
    assert not PaymentPart.objects.filter(payment=payment, transaction_id__isnull=False).exists()
