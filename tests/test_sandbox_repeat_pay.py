"""Paying the same sandbox payment twice is one payment: the second is a quiet duplicate."""

from __future__ import annotations

import logging

import pytest

from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from shop.ledger.models import Transaction
from shop.payments.models import Payment

pytestmark = pytest.mark.django_db


def test_a_double_tap_on_sandbox_pay_pays_once_and_raises_no_alarm(make_client, caplog):
    from rebates.tests.helpers import make_pending_order

    store, _, (member,) = make_store(members=1)
    order = make_pending_order(buyer=member, store=store, sku=SkuFactory(price_fen=1_990))
    client = make_client(member)

    first = client.post(f"/api/v1/sandbox/payments/{order.payment_id}/pay", {}, format="json")
    txs = Transaction.objects.count()
    with caplog.at_level(logging.ERROR, logger="shop.payments"):
        second = client.post(f"/api/v1/sandbox/payments/{order.payment_id}/pay", {}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)
    assert Payment.objects.get(pk=order.payment_id).status == Payment.Status.SUCCEEDED
    assert Transaction.objects.count() == txs
    assert not [r for r in caplog.records if "paid twice" in r.getMessage()]
