"""Ten copies of one checkout's payment callback at once: the order is paid once.

The payments-only half of this race is in ``shop/payments/tests/test_concurrency.py``;
this one follows a real checkout through the paid handler and the ``paid`` hook, so it
lives here with the cross-app tests: one receipt in the ledger, one ``paid`` event,
accruals and store figures once.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from groupstore.models import Membership, StoreStats
from groupstore.tests.factories import make_store
from orders.models import Order, OrderEvent
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.selectors import wallet_get
from rebates.tests.helpers import make_pending_order
from shop.ledger.models import Transaction
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment, PaymentAnomaly
from shop.payments.services import Applied, payment_apply_result
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 10


def _apply(headers: dict[str, str], body: bytes):
    result = SandboxGateway().parse_payment_callback(headers=headers, body=body)
    return payment_apply_result(gateway="sandbox", result=result)


def _notify(headers: dict[str, str], body: bytes):
    http_headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    response = APIClient().post(
        "/api/v1/payments/sandbox/notify", data=body, content_type="application/json", **http_headers
    )
    return response.status_code, response.json()["code"]


@pytest.mark.parametrize(
    ("deliver", "expected"),
    [
        pytest.param(_apply, sorted([Applied.APPLIED] + [Applied.DUPLICATE] * (COPIES - 1)), id="service"),
        pytest.param(_notify, [(200, "SUCCESS")] * COPIES, id="notify-endpoint"),
    ],
)
def test_ten_copies_of_a_checkout_callback_at_once_pay_the_order_once(deliver, expected):
    # given an unpaid order of 1 × ¥19.90 at 10 % commission through a store
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=10)
    order = make_pending_order(buyer=buyer, store=store, sku=sku)
    payment = order.payment
    # and the one callback the gateway signed (each build makes a new transaction id)
    headers, body = SandboxGateway().build_success_callback(payment)

    # when ten copies of the same bytes arrive at once
    answers = run_concurrently(lambda i: deliver(headers, body), times=COPIES)

    # then every copy was answered, and exactly one applied
    assert sorted(answers) == expected, answers
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert order.status == Order.Status.PAID
    assert order.events.filter(kind=OrderEvent.Kind.PAID).count() == 1
    assert not PaymentAnomaly.objects.exists()
    # one receipt and one commission accrual in the ledger
    assert Transaction.objects.filter(idempotency_key=f"payment:{payment.pk}:received").count() == 1
    assert Transaction.objects.filter(ref_type="payment", ref_id=payment.pk).count() == 1
    assert Transaction.objects.filter(ref_type="order", ref_id=order.pk).count() == 1
    # accruals created once: 199 = 59 (member) + 119 (owner) + 21 (platform)
    assert sorted(Accrual.objects.filter(order=order).values_list("kind", "amount_fen")) == [
        (Accrual.Kind.MEMBER_REBATE, 59),
        (Accrual.Kind.OWNER_COMMISSION, 119),
        (Accrual.Kind.PLATFORM, 21),
    ]
    assert wallet_get(user_id=buyer.pk).pending_fen == 59
    assert wallet_get(user_id=store.owner_id).pending_fen == 119
    # the store's figures grew once
    stats = StoreStats.objects.get(store=store)
    assert (stats.orders_count, stats.gmv_fen, stats.commission_pending_fen) == (1, 1_990, 119)
    membership = Membership.objects.get(store=store, user=buyer)
    assert (membership.orders_count, membership.paid_fen) == (1, 1_990)
    call_command("ledger_check")
