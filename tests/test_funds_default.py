"""Profit sharing is the default way merchants are paid (docs/merchant-money.md "How it is
switched on"): a merchant without a ``sub_mchid`` is refused at checkout with a 409 naming
it, and orders paid into the platform's own account before the switch keep the old payable
path and are listed for ops in admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.tests.helpers import ADDRESS, buy, sandbox_pay
from products.tests.factories import SkuFactory
from rebates.models import OrderSettlement
from rebates.services.settlement import orders_settle
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import FundsStep, Payment, PaymentPart

from .profit_sharing import complete

pytestmark = pytest.mark.django_db


def test_a_merchant_without_sub_mchid_gets_a_409_naming_it_and_nothing_is_written(settings, make_client):
    settings.MERCHANT_FUNDS = "profit_sharing"
    store, _, (member,) = make_store(members=1)
    payable = SkuFactory(product__merchant=MerchantStaffFactory(merchant__sub_mchid="1600000001").merchant)
    unpayable = SkuFactory(
        product__merchant=MerchantStaffFactory(
            merchant__sub_mchid="", merchant__company_name="未开户商贸"
        ).merchant
    )

    response = make_client(member).post(
        "/api/v1/orders",
        {
            "store_id": store.pk,
            "items": [{"sku_id": payable.pk, "qty": 1}, {"sku_id": unpayable.pk, "qty": 1}],
            "address": ADDRESS,
        },
        format="json",
    )

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "merchant_not_payable"
    assert "未开户商贸" in error["message"]
    assert payable.merchant.company_name not in error["message"]
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def _legacy_then_shared(settings):
    """One order paid into the platform's account before the switch, one after it."""
    store, _, (member,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, product__merchant__sub_mchid="1600000002")
    settings.MERCHANT_FUNDS = "platform"
    legacy = buy(buyer=member, store=store, sku=sku)
    sandbox_pay(legacy.payment)
    settings.MERCHANT_FUNDS = "profit_sharing"
    shared = buy(buyer=member, store=store, sku=sku)
    sandbox_pay(shared.payment)
    return legacy, shared, sku.merchant


def test_an_order_paid_into_the_platforms_account_before_the_switch_keeps_the_payable_path(settings):
    legacy, shared, merchant = _legacy_then_shared(settings)
    assert (legacy.payment.funds, shared.payment.funds) == (Payment.Funds.PLATFORM, Payment.Funds.SHARED)

    order = complete(Order.objects.get(pk=legacy.orders[0].pk))
    orders_settle(order_ids=[order.pk])

    # Owed to the merchant on the old path (ops pay it), never shared or unfrozen.
    settled = OrderSettlement.objects.get(order_id=order.pk)
    assert settled.commission_fen == 199
    assert settled.merchant_payable_fen == 1_990 - 199 - settled.platform_fee_fen > 0
    payable = account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_PAYABLE, merchant.pk))
    assert payable == settled.merchant_payable_fen
    assert not FundsStep.objects.filter(order_id=order.pk).exists()
    assert not PaymentPart.objects.filter(order_id=order.pk).exists()


def test_ops_list_the_orders_paid_into_the_platforms_account_in_admin(settings, client):
    legacy, shared, _ = _legacy_then_shared(settings)
    client.force_login(get_user_model().objects.create_superuser(username="ops", password="pw-ops-123"))

    page = client.get(
        "/admin/payments/payment/", {"funds__exact": "platform", "purpose__exact": "order_checkout"}
    )

    assert page.status_code == 200
    listed = {p.pk for p in page.context["cl"].result_list}
    assert legacy.payment.pk in listed
    assert shared.payment.pk not in listed
    assert 'href="?funds__exact=platform' in page.content.decode()  # the filter ops use
