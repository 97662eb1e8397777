from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from products.models import Category, Product
from shop.errors import NotFound
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import Payment, Refund

from . import sql
from .errors import NotMerchantOwner, NotMerchantStaff, StaffNotFound
from .models import (
    DEPOSIT_PURPOSE,
    DEPOSIT_REFUND_PURPOSE,
    DepositMovement,
    Merchant,
    MerchantStaff,
    StockUpload,
)
from .registry import open_dispute_count
from .roles import DEPOSIT, staff_require_role

# Staff of these may use the merchant console: a leaving merchant still ships its orders.
CONSOLE_STATUSES = (Merchant.Status.APPROVED, Merchant.Status.EXITING)


def merchant_id_of_user_expression() -> Subquery:
    """``/me``'s ``merchant_id``: the merchant the user ``OuterRef("pk")`` works for (any
    status), or null."""
    return Subquery(MerchantStaff.objects.filter(user_id=OuterRef("pk")).values("merchant_id")[:1])


def merchant_payees(*, merchant_ids: list[int]) -> list[tuple[int, str, str]]:
    """``(id, sub_mchid, company_name)`` of these merchants, by id: who a shared checkout pays."""
    if connection.vendor != "postgresql":
        return list(
            Merchant.objects.filter(pk__in=merchant_ids)
            .order_by("pk")
            .values_list("pk", "sub_mchid", "company_name")
        )
    return sql.merchant_payees(merchant_ids=merchant_ids)


def merchant_get_for_staff(*, user, approved: bool = True) -> Merchant:
    """The caller's merchant; refuses users who are not its staff (or, with ``approved``,
    whose merchant is not approved — a leaving merchant still counts)."""
    if not getattr(user, "is_authenticated", False):
        raise NotMerchantStaff()
    staff = MerchantStaff.objects.select_related("merchant").filter(user=user).first()
    if staff is None or (approved and staff.merchant.status not in CONSOLE_STATUSES):
        raise NotMerchantStaff()
    return staff.merchant


def merchant_staff_get(*, user) -> MerchantStaff | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MerchantStaff.objects.select_related("merchant").filter(user=user).first()


def merchant_staff_get_for_merchant(*, merchant_id: int, staff_id: int) -> MerchantStaff:
    """One staff member of the merchant; anyone else's is reported as not found."""
    staff = MerchantStaff.objects.filter(merchant_id=merchant_id, pk=staff_id).first()
    if staff is None:
        raise StaffNotFound()
    return staff


def merchant_require_owner(*, merchant: Merchant, user) -> None:
    """403 unless ``user`` is the merchant's owner (ops acting in admin pass too)."""
    if getattr(user, "is_staff", False):
        return
    if not MerchantStaff.objects.filter(merchant=merchant, user=user, role=MerchantStaff.Role.OWNER).exists():
        raise NotMerchantOwner()


def merchant_return_address(*, merchant_id: int) -> dict | None:
    """Where buyers send returns to this merchant (``None`` until the merchant sets one)."""
    return Merchant.objects.filter(pk=merchant_id).values_list("return_address", flat=True).first()


def merchant_staff_user_ids(*, merchant_id: int) -> list[int]:
    return list(MerchantStaff.objects.filter(merchant_id=merchant_id).values_list("user_id", flat=True))


def merchant_staff_list(*, merchant_id: int) -> QuerySet[MerchantStaff]:
    return MerchantStaff.objects.filter(merchant_id=merchant_id).select_related("user").order_by("pk")


def deposit_account(merchant_id: int) -> AccountRef:
    return AccountRef.merchant(Account.Kind.MERCHANT_DEPOSIT, merchant_id)


def merchant_deposit_balance(*, merchant_id: int) -> int:
    return account_balance(ref=deposit_account(merchant_id))


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    """What one of the merchant's categories requires, and whether the deposit covers it."""

    category_id: int
    name: str
    deposit_fen: int
    covered: bool
    shortfall_fen: int  # what is missing to cover it (0 when covered)
    commission_min_bps: int
    commission_max_bps: int


@dataclass(frozen=True, slots=True)
class DepositCoverage:
    balance_fen: int
    frozen: bool  # a dispute is open: no refund while it is
    categories: list[CategoryCoverage]


def merchant_deposit_coverage(*, merchant: Merchant) -> DepositCoverage:
    """The deposit held and, for each category the merchant sells in, whether it covers the
    category's standard (``balance >= deposit_fen``: listings there may be on sale). The
    profile API and the console's deposit page both show this."""
    balance = merchant_deposit_balance(merchant_id=merchant.pk)
    categories = [
        CategoryCoverage(
            category_id=c.pk,
            name=c.name,
            deposit_fen=c.deposit_fen,
            covered=balance >= c.deposit_fen,
            shortfall_fen=max(c.deposit_fen - balance, 0),
            commission_min_bps=c.commission_min_bps,
            commission_max_bps=c.commission_max_bps,
        )
        for c in merchant.categories.order_by("pk")
    ]
    return DepositCoverage(
        balance_fen=balance, frozen=open_dispute_count(merchant.pk) > 0, categories=categories
    )


def merchant_uncovered_categories(*, merchant_id: int, balance_fen: int) -> QuerySet[Category]:
    """Categories where the merchant has listings on sale that ``balance_fen`` no longer covers."""
    return Category.objects.filter(
        products__merchant_id=merchant_id,
        products__status=Product.Status.ON_SALE,
        deposit_fen__gt=balance_fen,
    ).distinct()


def merchant_restorable_categories(*, merchant_id: int, balance_fen: int) -> QuerySet[Category]:
    """Categories with listings suspended for a shortfall that ``balance_fen`` covers again."""
    return Category.objects.filter(
        products__merchant_id=merchant_id,
        products__status=Product.Status.SUSPENDED,
        deposit_fen__lte=balance_fen,
    ).distinct()


def deposit_movement_list_for_merchant(*, merchant_id: int, viewer) -> QuerySet[DepositMovement]:
    """The deposit's movements, newest first. ``viewer``: owner or finance (merchants/roles.py)."""
    staff_require_role(user=viewer, merchant_id=merchant_id, area=DEPOSIT)
    return DepositMovement.objects.filter(merchant_id=merchant_id).order_by("-id")


def deposit_payment_get_for_merchant(*, merchant_id: int, payment_id: int, viewer) -> Payment:
    """One of the merchant's deposit payments (any payer among its staff); anyone else's is
    reported as not found. ``viewer``: owner or finance (merchants/roles.py)."""
    staff_require_role(user=viewer, merchant_id=merchant_id, area=DEPOSIT)
    payment = Payment.objects.filter(pk=payment_id, purpose=DEPOSIT_PURPOSE, ref_id=merchant_id).first()
    if payment is None:
        raise NotFound("No such deposit payment.")
    return payment


def deposit_refund_list(*, merchant_id: int) -> QuerySet[Refund]:
    """The gateway refunds of every exit refund of the merchant (``shop.payments`` Refunds of
    purpose ``deposit_refund`` whose ``ref_id`` is one of its refund movements)."""
    movements = DepositMovement.objects.filter(merchant_id=merchant_id, kind=DepositMovement.Kind.REFUND)
    return Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE, ref_id__in=movements.values("pk"))


def deposit_refunds_in_flight(*, merchant_id: int) -> QuerySet[Refund]:
    return deposit_refund_list(merchant_id=merchant_id).filter(status__in=Refund.IN_FLIGHT)


def stock_upload_list_for_merchant(*, merchant_id: int) -> QuerySet[StockUpload]:
    return StockUpload.objects.filter(merchant_id=merchant_id).order_by("-id")


def stock_upload_get_for_merchant(*, merchant_id: int, upload_id: int) -> StockUpload:
    upload = stock_upload_list_for_merchant(merchant_id=merchant_id).filter(pk=upload_id).first()
    if upload is None:
        raise NotFound("No such upload.")
    return upload


def deposit_coverage_for_merchant(*, merchant_id: int) -> dict:
    """The deposit against each of the merchant's categories: ``{"balance_fen", "categories":
    [{"id", "name", "deposit_fen", "covered", "short_fen"}]}``. A category not covered cannot
    take new listings, and its listings on sale are suspended (merchants/services/deposits.py)."""
    balance = merchant_deposit_balance(merchant_id=merchant_id)
    categories = [
        {
            **row,
            "covered": balance >= row["deposit_fen"],
            "short_fen": max(0, row["deposit_fen"] - balance),
        }
        for row in Category.objects.filter(merchants__id=merchant_id)
        .order_by("-deposit_fen", "pk")
        .values("id", "name", "deposit_fen")
    ]
    return {"balance_fen": balance, "categories": categories}
