"""Shared by the profit-sharing tests: a two-merchant basket bought with a platform coupon,
paid into the merchants' frozen funds at the e-commerce sandbox."""

from __future__ import annotations

from django.db.models import Sum

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.services.checkout import order_create
from orders.tests.helpers import ADDRESS, coupon
from products.tests.factories import SkuFactory
from shop.ledger.models import Account, Entry
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.gateways.ecommerce import EcommercePayment, SubOrder
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway, sandbox_sub_mchid
from shop.payments.models import FundsStep, Payment, PaymentPart
from shop.payments.steps import funds_step_run


def frozen(merchant_id: int) -> int:
    return account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant_id))


def receivable(merchant_id: int) -> int:
    return account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant_id))


def kind_total(kind: str, merchant_id: int) -> int:
    """The sum of one transaction kind's lines on a merchant's merchant_frozen account."""
    return (
        Entry.objects.filter(
            transaction__kind=kind,
            account__kind=Account.Kind.MERCHANT_FROZEN,
            account__owner_id=merchant_id,
        ).aggregate(total=Sum("amount_fen"))["total"]
        or 0
    )


def two_merchant_checkout(*, coupon_fen: int = 500, merchants: int = 2, sub_mchid_key: str = ""):
    """A member buys one SKU of each merchant (1,990 and 2,990 fen at 1,000 bps) with a
    platform coupon: one payment, one order (and part) per merchant. ``sub_mchid_key`` makes
    the merchants' sub_mchids unique to it (a test sharing the sandbox's default namespace)."""
    store, _, (member,) = make_store(members=1)
    prices = [1_990, 2_990, 3_990][:merchants]
    skus = [
        SkuFactory(product__merchant=MerchantStaffFactory().merchant, price_fen=price, commission_bps=1_000)
        for price in prices
    ]
    if sub_mchid_key:
        for index, sku in enumerate(skus):
            sku.merchant.sub_mchid = sandbox_sub_mchid(f"{sub_mchid_key}-{index}")
            sku.merchant.save(update_fields=["sub_mchid"])
    ticket = coupon(user=member, amount_fen=coupon_fen) if coupon_fen else None
    result = order_create(
        buyer=member,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": 1} for sku in skus],
        address=ADDRESS,
        gateway="sandbox",
        coupon_id=ticket.pk if ticket else None,
    )
    return result, skus, member, store


def run_open_steps(kind: str | None = None, *, now=None) -> list[str]:
    """Run every open step (of ``kind``) once, as the task would, ignoring back-off times."""
    steps = FundsStep.objects.filter(status__in=FundsStep.OPEN)
    if kind:
        steps = steps.filter(kind=kind)
    steps.update(next_attempt_at=None)
    return [funds_step_run(step_id=pk, now=now) for pk in steps.order_by("pk").values_list("pk", flat=True)]


def sandbox() -> SandboxEcommerceGateway:
    return SandboxEcommerceGateway()


def declared_sub_orders(payment: Payment) -> list[SubOrder]:
    """The sub-orders of a shared payment as we declare them at prepay."""
    return [
        SubOrder(
            sub_mchid=p.sub_mchid,
            out_trade_no=p.out_trade_no,
            amount_fen=p.amount_fen,
            description=payment.description,
            subsidy_fen=p.subsidy_fen,
        )
        for p in PaymentPart.objects.filter(payment=payment).order_by("pk")
    ]


def pay_at_gateway(payment: Payment, sub_orders: list[SubOrder] | None = None) -> EcommercePayment:
    """The buyer pays at the sandbox what ``sub_orders`` say (ours by default, or others: an
    anomaly): returns the verified callback, not applied."""
    gateway = sandbox()
    sub_orders = sub_orders if sub_orders is not None else declared_sub_orders(payment)
    if len(sub_orders) == 1 and sub_orders[0].out_trade_no == payment.out_trade_no:
        gateway.partner_prepay(sub_order=sub_orders[0], openid="")
        headers, body = gateway.simulate_payment(
            sub_mchid=sub_orders[0].sub_mchid, out_trade_no=sub_orders[0].out_trade_no
        )
    else:
        gateway.combine_prepay(combine_out_trade_no=payment.out_trade_no, sub_orders=sub_orders, openid="")
        headers, body = gateway.simulate_payment(combine_out_trade_no=payment.out_trade_no)
    return gateway.parse_payment_callback(headers=headers, body=body)


def complete(order, *, now=None):
    """Ship, receive and complete a paid order (its after-sales window closed)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from merchants.tests.factories import MerchantStaffFactory
    from orders.services.lifecycle import order_complete, order_confirm_receipt, order_ship

    now = now or timezone.now()
    staff = MerchantStaffFactory(merchant_id=order.merchant_id)
    order_ship(
        order_id=order.pk,
        merchant_id=order.merchant_id,
        carrier="SF",
        tracking_no=f"SF{order.pk}",
        actor=staff.user,
    )
    order_confirm_receipt(order_id=order.pk, actor=order.buyer, now=now)
    return order_complete(
        order_id=order.pk, now=now + settings.SHOP_RULES["AFTER_SALES_WINDOW"] + timedelta(minutes=1)
    )
