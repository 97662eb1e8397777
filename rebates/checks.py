"""Rebates' sub-ledgers reconciled with the ledger, for ``manage.py ledger_check``
(docs/design.md "Ledger"). Rebates sits above orders, groupstore and merchants, so the checks
that compare orders with accruals live here. Each one computes what every account (or
store and member figure) should hold from the rows that moved it, in a handful of
``GROUP BY`` queries, and reports each disagreement with its rows and amounts.

What moves each account, found by reading every ``ledger_post`` (issue 13):

- ``user_pending``: + an accrual's amount at payment; − what a refund cancels; − the
  net (amount − cancelled) at settlement. So: pending person accruals, amount − cancelled.
- ``user_available``: + settled person accruals' net; − what refunds claw back; + red
  envelope claims; + compensation from a merchant's deposit deduction; − a withdrawal's
  hold (per payout attempt), + its release when the payout failed or was cancelled. So:
  settled accruals (amount − cancelled − clawed back) + claims + compensation − payouts
  of wallet withdrawals not failed or cancelled.
- ``user_held``: the withdrawal payouts still in flight (created, waiting, processing).
- ``platform_pending``: pending platform accruals, amount − cancelled.
- ``platform_revenue``: settled platform accruals' net, every settlement's platform fee,
  − red envelopes funded from orders, + what expired ones returned, + deposit deductions
  less their compensation, − what ops allocated to the marketing budget.
- ``marketing_budget``: − coupons of paid orders, + the coupon share of refunds
  (⌊coupon × refunded / paid⌋ per item, as refunds compute it on running totals),
  − campaign envelopes, + what expired ones returned; + what ops allocated to it from
  revenue, − coupon campaigns' reserves, + what they released, + the amounts of used
  campaign coupons (each moved from its campaign's reserve when paid for).
- ``merchant_receivable`` / ``merchant_payable``: + the sale at payment, − commission
  accrued, + commission cancelled or clawed back, − refunds and their coupon share, and
  at settlement the rest moves to payable less the platform fee. So per merchant, over
  its paid orders not settled: sale − net accruals − refunds (receivable); over the
  settled ones: the same less the fee (payable). Settlement moves everything left, so a
  settled order leaves nothing in the receivable.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
    When,
)

from groupstore.models import Membership, StoreStats
from merchants.models import DepositMovement
from orders.models import Coupon, CouponCampaign, MarketingBudgetAllocation, Order, OrderItem
from rebates.models import Accrual, OrderSettlement, RedEnvelope, RedEnvelopeClaim
from shop.ledger.checks import register_check
from shop.ledger.models import Account
from shop.ledger.reconcile import (
    compare_owned,
    disagreement,
    fen_sum,
    grouped_fen,
    platform_balance,
    sum_maps,
)
from shop.payments.gateway_fees import shared_fees_by_merchant
from shop.payments.models import FundsStep, PaymentPart, Payout

from .services.withdrawals import PURPOSE as WITHDRAWAL_PURPOSE

WALLETS_CHECK = "rebates: wallets against accruals, claims, compensation and withdrawals"
PLATFORM_CHECK = "rebates: platform pending, revenue and marketing budget"
MERCHANT_CHECK = "rebates: merchant receivables and payables against orders"
FIGURES_CHECK = "rebates: store and member figures against orders, accruals and claims"

PERSON_KINDS = (Accrual.Kind.MEMBER_REBATE, Accrual.Kind.OWNER_COMMISSION)
NET = F("amount_fen") - F("cancelled_fen") - F("clawed_back_fen")
PAYOUTS_RETURNED = (Payout.State.FAILED, Payout.State.CANCELLED)
PAYOUTS_IN_FLIGHT = (Payout.State.CREATED, Payout.State.WAIT_USER_CONFIRM, Payout.State.PROCESSING)

# The parts of an item's coupon and discount that went back with its refunds (what
# ``orders.services.refunds`` computes on running totals): integer division of
# non-negative integers, i.e. rounded down, in SQL.
COUPON_BACK = Case(
    When(paid_fen__gt=0, then=F("coupon_fen") * F("refunded_fen") / F("paid_fen")),
    default=Value(0),
    output_field=BigIntegerField(),
)
DISCOUNT_BACK = Case(
    When(
        paid_fen__gt=0,
        then=(F("list_price_fen") * F("qty") - F("paid_fen")) * F("refunded_fen") / F("paid_fen"),
    ),
    default=Value(0),
    output_field=BigIntegerField(),
)


def _paid_orders():
    """Orders whose payment was booked (the receipt and ``paid_at`` are one transaction)."""
    return Order.objects.filter(paid_at__isnull=False)


def _is_settled(order_ref: str):
    return Exists(OrderSettlement.objects.filter(order_id=OuterRef(order_ref)))


def _is_shared(order_ref: str):
    """Paid by profit sharing (a ``PaymentPart``): its money is the merchant's at the gateway."""
    return Exists(PaymentPart.objects.filter(order_id=OuterRef(order_ref)))


def _is_paid_out(order_ref: str):
    """Settled into the merchant's payable: settled, and paid into the platform's account."""
    settled = Exists(OrderSettlement.objects.filter(order_id=OuterRef(order_ref)))
    return ExpressionWrapper(Q(settled) & ~Q(_is_shared(order_ref)), output_field=BooleanField())


# --- Wallets ---------------------------------------------------------------------------------


def _withdrawal_payouts():
    return Payout.objects.filter(purpose=WITHDRAWAL_PURPOSE)


def wallets_check() -> list[str]:
    person = Accrual.objects.filter(kind__in=PERSON_KINDS)
    pending = grouped_fen(
        person.filter(status=Accrual.Status.PENDING), "beneficiary_id", F("amount_fen") - F("cancelled_fen")
    )
    settled = grouped_fen(person.filter(status=Accrual.Status.SETTLED), "beneficiary_id", NET)
    claims = grouped_fen(RedEnvelopeClaim.objects.all(), "user_id", "amount_fen")
    compensation = grouped_fen(
        DepositMovement.objects.filter(kind=DepositMovement.Kind.DEDUCTED, compensation_fen__gt=0),
        "buyer_id",
        "compensation_fen",
    )
    withdrawn = grouped_fen(
        _withdrawal_payouts().exclude(state__in=PAYOUTS_RETURNED), "payee_id", "amount_fen"
    )
    held = grouped_fen(_withdrawal_payouts().filter(state__in=PAYOUTS_IN_FLIGHT), "payee_id", "amount_fen")
    available = sum_maps((1, settled), (1, claims), (1, compensation), (-1, withdrawn))

    def available_detail(user_id: int) -> str:
        return (
            f"settled accruals {settled.get(user_id, 0)}, envelope claims {claims.get(user_id, 0)}, "
            f"deposit compensation {compensation.get(user_id, 0)}, withdrawals {withdrawn.get(user_id, 0)}"
        )

    return [
        *compare_owned(
            kind=Account.Kind.USER_PENDING,
            owner_type=Account.OwnerType.USER,
            expected=pending,
            describe=lambda user_id: f"pending wallet of user {user_id} against pending accruals",
        ),
        *compare_owned(
            kind=Account.Kind.USER_AVAILABLE,
            owner_type=Account.OwnerType.USER,
            expected=available,
            describe=lambda user_id: f"available wallet of user {user_id}",
            detail=available_detail,
        ),
        *compare_owned(
            kind=Account.Kind.USER_HELD,
            owner_type=Account.OwnerType.USER,
            expected=held,
            describe=lambda user_id: f"held wallet of user {user_id} against withdrawals in flight",
        ),
    ]


# --- Platform ---------------------------------------------------------------------------------


def _platform(kind: str, expected: int, detail: str) -> list[str]:
    account_id, found = platform_balance(kind)
    if found == expected:
        return []
    return [disagreement(what=kind, account_id=account_id, expected=expected, found=found, detail=detail)]


def platform_check() -> list[str]:
    platform = Accrual.objects.filter(kind=Accrual.Kind.PLATFORM)
    pending = fen_sum(platform.filter(status=Accrual.Status.PENDING), F("amount_fen") - F("cancelled_fen"))
    settled = fen_sum(platform.filter(status=Accrual.Status.SETTLED), NET)
    fees = fen_sum(OrderSettlement.objects.all(), "platform_fee_fen")
    envelopes = RedEnvelope.objects.order_by().values("source")
    funded = grouped_fen(envelopes, "source", "total_fen")
    returned = grouped_fen(envelopes, "source", "returned_fen")
    deducted = DepositMovement.objects.filter(kind=DepositMovement.Kind.DEDUCTED)
    deductions = fen_sum(deducted, -F("amount_fen") - F("compensation_fen"))
    order_src, campaign_src = RedEnvelope.Source.ORDER, RedEnvelope.Source.CAMPAIGN
    allocated = fen_sum(MarketingBudgetAllocation.objects.all(), "amount_fen")
    revenue = settled + fees - funded.get(order_src, 0) + returned.get(order_src, 0) + deductions - allocated
    coupons = fen_sum(_paid_orders(), "coupon_fen")
    coupons_back = fen_sum(OrderItem.objects.filter(order__paid_at__isnull=False), COUPON_BACK)
    reserved = fen_sum(CouponCampaign.objects.all(), F("reserved_fen") - F("released_fen"))
    campaign_used = fen_sum(
        Coupon.objects.filter(campaign__isnull=False, status=Coupon.Status.USED), "amount_fen"
    )
    marketing = (
        -coupons
        + coupons_back
        - funded.get(campaign_src, 0)
        + returned.get(campaign_src, 0)
        + allocated
        - reserved
        + campaign_used
    )
    return [
        *_platform(Account.Kind.PLATFORM_PENDING, pending, "pending platform accruals"),
        *_platform(
            Account.Kind.PLATFORM_REVENUE,
            revenue,
            f"settled platform accruals {settled}, settlement fees {fees}, order envelopes funded "
            f"{funded.get(order_src, 0)} and returned {returned.get(order_src, 0)}, "
            f"deposit deductions {deductions}, allocated to marketing {allocated}",
        ),
        *_platform(
            Account.Kind.MARKETING_BUDGET,
            marketing,
            f"coupons of paid orders {coupons}, returned by refunds {coupons_back}, campaign envelopes "
            f"funded {funded.get(campaign_src, 0)} and returned {returned.get(campaign_src, 0)}, "
            f"allocated {allocated}, held by coupon campaigns {reserved}, their used coupons {campaign_used}",
        ),
    ]


# --- Merchants --------------------------------------------------------------------------------


def merchant_check() -> list[str]:
    """Per merchant and per settled-or-not: sale − net accruals − refunds; less fees.

    Orders paid by profit sharing never become payable: their receivable is the part of the
    merchant's frozen funds still to be shared or unfrozen, so it loses the fee when the share
    finishes and the rest when the unfreeze is confirmed."""
    by = ("merchant_id", "settled")
    sales = grouped_fen(_paid_orders().annotate(settled=_is_paid_out("pk")), by, "sale_fen")
    accrued = grouped_fen(
        Accrual.objects.annotate(merchant_id=F("order__merchant_id"), settled=_is_paid_out("order_id")),
        by,
        NET,
    )
    refunded = grouped_fen(
        OrderItem.objects.filter(order__paid_at__isnull=False).annotate(
            merchant_id=F("order__merchant_id"), settled=_is_paid_out("order_id")
        ),
        by,
        F("refunded_fen") + COUPON_BACK,
    )
    settlements = OrderSettlement.objects.annotate(shared=_is_shared("order_id"))
    fees = grouped_fen(settlements.filter(shared=False), "merchant_id", "platform_fee_fen")
    shared_fees = grouped_fen(settlements.filter(shared=True), "merchant_id", "platform_fee_fen")
    unfrozen = grouped_fen(
        FundsStep.objects.filter(kind=FundsStep.Kind.UNFREEZE, status=FundsStep.Status.CONFIRMED),
        "merchant_id",
        "amount_fen",
    )
    due = sum_maps((1, sales), (-1, accrued), (-1, refunded))
    advanced = grouped_fen(  # refunds the platform advanced, charged to the deposit instead
        DepositMovement.objects.filter(kind=DepositMovement.Kind.ADVANCE_REFUND),
        "merchant_id",
        -F("amount_fen"),
    )
    receivable = sum_maps(
        (1, {m: fen for (m, settled), fen in due.items() if not settled}),
        (-1, shared_fees),
        (-1, shared_fees_by_merchant()),  # WeChat's handling fees, taken with the frozen funds
        (-1, unfrozen),
        (1, advanced),
    )
    payable = sum_maps((1, {m: fen for (m, settled), fen in due.items() if settled}), (-1, fees))

    def detail(settled: bool) -> Callable[[int], str]:
        def text(merchant_id: int) -> str:
            key = (merchant_id, settled)
            fee = f", platform fees {fees.get(merchant_id, 0)}" if settled else ""
            return (
                f"{'settled' if settled else 'unsettled'} orders: sales {sales.get(key, 0)}, "
                f"net commission {accrued.get(key, 0)}, refunds with their coupon share "
                f"{refunded.get(key, 0)}{fee}"
            )

        return text

    return [
        *compare_owned(
            kind=Account.Kind.MERCHANT_RECEIVABLE,
            owner_type=Account.OwnerType.MERCHANT,
            expected=receivable,
            describe=lambda m: f"receivable of merchant {m} against its unsettled orders",
            detail=detail(False),
        ),
        *compare_owned(
            kind=Account.Kind.MERCHANT_PAYABLE,
            owner_type=Account.OwnerType.MERCHANT,
            expected=payable,
            describe=lambda m: f"payable of merchant {m} against its settled orders",
            detail=detail(True),
        ),
    ]


# --- Store and member figures -------------------------------------------------------------------


def _compare_figures(
    *, what: str, found: Mapping[Hashable, Mapping[str, int]], expected: Mapping[str, Mapping[Hashable, int]]
) -> list[str]:
    """``found`` = {row key: {field: value}}; ``expected`` = {field: {row key: value}}."""
    problems = []
    for key in sorted(found):
        for field_name, by_key in expected.items():
            want, have = by_key.get(key, 0), found[key][field_name]
            if want != have:
                problems.append(
                    f"{what} {key} {field_name}: expected {want}, found {have}, difference {have - want:+d}"
                )
    return problems


def _store_figures() -> list[str]:
    owner = Accrual.objects.filter(kind=Accrual.Kind.OWNER_COMMISSION)
    orders = _paid_orders().order_by().values("store_id")
    found = {
        row.pop("store_id"): row
        for row in StoreStats.objects.values(
            "store_id",
            "gmv_fen",
            "net_paid_fen",
            "orders_count",
            "commission_pending_fen",
            "commission_settled_fen",
            "commission_clawed_back_fen",
        )
    }
    expected = {
        "gmv_fen": grouped_fen(orders, "store_id", "paid_fen"),
        "net_paid_fen": grouped_fen(orders, "store_id", F("paid_fen") - F("refunded_fen")),
        "orders_count": dict(orders.annotate(n=Count("pk")).values_list("store_id", "n")),
        "commission_pending_fen": grouped_fen(
            owner.filter(status=Accrual.Status.PENDING), "store_id", F("amount_fen") - F("cancelled_fen")
        ),
        "commission_settled_fen": grouped_fen(
            owner.filter(status=Accrual.Status.SETTLED), "store_id", F("amount_fen") - F("cancelled_fen")
        ),
        "commission_clawed_back_fen": grouped_fen(owner, "store_id", "clawed_back_fen"),
    }
    missing = set().union(*({k for k, v in m.items() if v} for m in expected.values())) - set(found)
    problems = [
        f"store {store_id} has money figures to record but no StoreStats row" for store_id in sorted(missing)
    ]
    return problems + _compare_figures(what="store", found=found, expected=expected)


def _member_figures() -> list[str]:
    by = ("store_id", "buyer_id")
    orders = _paid_orders()
    items = OrderItem.objects.filter(order__paid_at__isnull=False).annotate(
        store_id=F("order__store_id"), buyer_id=F("order__buyer_id")
    )
    paid = grouped_fen(orders, by, F("paid_fen") - F("refunded_fen"))
    count = {
        (r["store_id"], r["buyer_id"]): r["n"] for r in orders.order_by().values(*by).annotate(n=Count("pk"))
    }
    discount = sum_maps(
        (1, grouped_fen(orders, by, F("list_fen") - F("paid_fen"))),
        (-1, grouped_fen(items, by, DISCOUNT_BACK)),
    )
    rebate = grouped_fen(
        Accrual.objects.filter(kind=Accrual.Kind.MEMBER_REBATE, status=Accrual.Status.SETTLED),
        ("store_id", "beneficiary_id"),
        NET,
    )
    envelope = grouped_fen(
        RedEnvelopeClaim.objects.annotate(store_id=F("envelope__store_id")),
        ("store_id", "user_id"),
        "amount_fen",
    )
    saved = sum_maps((1, discount), (1, rebate), (1, envelope))
    rows = Membership.objects.values(
        "store_id",
        "user_id",
        "orders_count",
        "paid_fen",
        "discount_fen",
        "rebate_fen",
        "envelope_fen",
        "saved_fen",
    )
    found = {(row.pop("store_id"), row.pop("user_id")): row for row in rows}
    expected = {
        "orders_count": count,
        "paid_fen": paid,
        "discount_fen": discount,
        "rebate_fen": rebate,
        "envelope_fen": envelope,
        "saved_fen": saved,
    }
    owed = set().union(*({k for k, v in m.items() if v} for m in expected.values()))
    problems = [
        f"member (store, user) {key} has money figures to record but no membership row"
        for key in sorted(owed - set(found))
    ]
    return problems + _compare_figures(what="member (store, user)", found=found, expected=expected)


def figures_check() -> list[str]:
    return _store_figures() + _member_figures()


def register_ledger_checks() -> None:
    register_check(name=WALLETS_CHECK, run=wallets_check)
    register_check(name=PLATFORM_CHECK, run=platform_check)
    register_check(name=MERCHANT_CHECK, run=merchant_check)
    register_check(name=FIGURES_CHECK, run=figures_check)
