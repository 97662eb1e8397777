"""Orders brought to a given state through the real services, for tests of what follows.

Nothing here writes a row by hand: every order is created by checkout, paid by a signed
sandbox callback, shipped, received and completed by the same services the API and the
sweepers call, so accruals, ledger postings and store figures are the real ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from unittest import mock

from django.conf import settings
from django.utils import timezone

from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.services.checkout import order_create
from orders.services.lifecycle import order_complete, order_confirm_receipt, order_ship
from rebates.tasks import orders_settle_task
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment
from shop.payments.parts import payment_parts_sandbox_pay
from shop.payments.services import Applied, payment_apply_result

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


def sandbox_pay(payment: Payment) -> Applied:
    if payment.is_shared:  # paid into the merchants' frozen funds (shop/payments/parts.py)
        return payment_parts_sandbox_pay(payment)
    """The payer pays: the sandbox 'bank' signs a success callback and we verify and apply it."""
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    return payment_apply_result(
        gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body)
    )


def make_pending_order(*, buyer, store, sku, qty: int = 1) -> Order:
    """One unpaid order of ``qty`` × ``sku`` through ``store`` (the buyer must be a member)."""
    result = order_create(
        buyer=buyer,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": qty}],
        address=ADDRESS,
        gateway="sandbox",
    )
    return result.orders[0]


def make_paid_order(*, buyer, store, sku, qty: int = 1) -> Order:
    order = make_pending_order(buyer=buyer, store=store, sku=sku, qty=qty)
    assert sandbox_pay(order.payment) == Applied.APPLIED
    order.refresh_from_db()
    return order


def make_completed_orders(
    *, buyers, store, sku, qty: int = 1, now: datetime | None = None, merchant_user=None
) -> list[Order]:
    """One completed order per buyer (in ``buyers`` order), accruals still **pending**.

    Each order is bought, paid, shipped, received at ``now`` and completed once the
    after-sales window has closed. Completion enqueues the order's settlement task on
    commit; here that message is held back (never delivered, as if the broker had not
    yet handed it to a worker), so the caller decides when and how settlement runs.
    """
    now = now or timezone.now()
    closed = now + settings.SHOP_RULES["AFTER_SALES_WINDOW"] + timedelta(minutes=1)
    merchant_user = merchant_user or MerchantStaffFactory(merchant=sku.merchant).user
    orders = []
    for buyer in buyers:
        order = make_paid_order(buyer=buyer, store=store, sku=sku, qty=qty)
        order_ship(
            order_id=order.pk,
            merchant_id=order.merchant_id,
            carrier="SF",
            tracking_no=f"SF{order.pk:010d}",
            actor=merchant_user,
            now=now,
        )
        order_confirm_receipt(order_id=order.pk, actor=buyer, now=now)
        with mock.patch.object(orders_settle_task, "delay") as held_back:
            order_complete(order_id=order.pk, now=closed)
        # Only in a real commit (transaction=True tests) do on-commit callbacks run at all.
        assert held_back.call_count in (0, 1)
        order.refresh_from_db()
        orders.append(order)
    return orders


def fund_wallet(user, amount_fen: int, *, key: str | None = None) -> None:
    """Put money in a wallet through a real flow that every sub-ledger knows about: a
    merchant pays a deposit through the sandbox, and ops deduct it for a violation with
    all of it compensating ``user`` (available at once). ``key`` is the deduction's
    request key (a second call with it funds nothing more)."""
    from merchants.services import deposit_deduct
    from merchants.tests.factories import MerchantFactory, pay_deposit

    merchant = MerchantFactory()
    pay_deposit(merchant, amount_fen)
    deposit_deduct(
        merchant_id=merchant.pk,
        amount_fen=amount_fen,
        reason_code="other_violation",
        actor=None,
        buyer_id=user.pk,
        compensation_fen=amount_fen,
        request_key=key,
    )


def make_campaign(*, budget_fen: int, envelope_fen: int, shares: int, stores=(), now=None):
    from rebates.models import RedEnvelopeCampaign

    now = now or timezone.now()
    campaign = RedEnvelopeCampaign.objects.create(
        name="双十一红包雨",
        budget_fen=budget_fen,
        envelope_fen=envelope_fen,
        shares=shares,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
    )
    campaign.stores.set(stores)
    return campaign
