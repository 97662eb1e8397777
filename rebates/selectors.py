from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from groupstore.models import Membership
from merchants.roles import STATEMENTS, staff_require_role
from rebates.errors import StatementNotFound
from rebates.models import (
    MerchantStatement,
    MerchantStatementLine,
    OrderSettlement,
    RedEnvelope,
    RedEnvelopeClaim,
    Withdrawal,
)
from shop.errors import NotFound
from shop.ledger.models import Account
from shop.ledger.selectors import account_balances_for_owner, entry_list_for_owner


@dataclass(frozen=True)
class Wallet:
    available_fen: int
    pending_fen: int
    held_fen: int

    @property
    def withdrawable_fen(self) -> int:
        """A negative balance (after a clawback) blocks withdrawal."""
        return max(0, self.available_fen)


def wallet_get(*, user_id: int) -> Wallet:
    balances = account_balances_for_owner(owner_type=Account.OwnerType.USER, owner_id=user_id)
    return Wallet(
        available_fen=balances.get(Account.Kind.USER_AVAILABLE, 0),
        pending_fen=balances.get(Account.Kind.USER_PENDING, 0),
        held_fen=balances.get(Account.Kind.USER_HELD, 0),
    )


WALLET_KINDS = [Account.Kind.USER_AVAILABLE, Account.Kind.USER_PENDING, Account.Kind.USER_HELD]


def wallet_entry_list(*, user_id: int):
    return entry_list_for_owner(owner_type=Account.OwnerType.USER, owner_id=user_id, kinds=WALLET_KINDS)


def withdrawal_list_for_user(*, user_id: int) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(user_id=user_id).select_related("payout").order_by("-created_at", "-pk")


def red_envelope_list_for_member(*, store_id: int, user) -> QuerySet[RedEnvelope]:
    """Envelopes of a store the user belongs to, newest first, each with ``my_claim_fen``
    (None until claimed). Someone else's store is reported as not found."""
    if not Membership.objects.filter(store_id=store_id, user=user).exists():
        raise NotFound("No such store.", store_id=store_id)
    mine = RedEnvelopeClaim.objects.filter(envelope=OuterRef("pk"), user=user).values("amount_fen")[:1]
    return (
        RedEnvelope.objects.filter(store_id=store_id)
        .annotate(my_claim_fen=Subquery(mine))
        .order_by("-funded_at", "-pk")
    )


def order_is_settled(order) -> bool:
    """``orders``' question (``orders.hooks.order_is_settled``): its settlement row exists."""
    return OrderSettlement.objects.filter(order_id=order.pk).exists()


def statement_list_for_merchant(
    *, merchant_id: int, viewer, oldest_first: bool = False
) -> QuerySet[MerchantStatement]:
    """The merchant's daily statements, newest first (or oldest first). ``viewer`` is the person
    asking: the merchant's owner or finance staff (403 for an operator; merchants/roles.py)."""
    staff_require_role(user=viewer, merchant_id=merchant_id, area=STATEMENTS)
    order = ("date", "pk") if oldest_first else ("-date", "-pk")
    return MerchantStatement.objects.filter(merchant_id=merchant_id).order_by(*order)


def statement_get_for_merchant(*, merchant_id: int, statement_id: int, viewer) -> MerchantStatement:
    """One of the merchant's statements; anyone else's is reported as not found. ``viewer``:
    the merchant's owner or finance staff (403 for an operator; merchants/roles.py)."""
    staff_require_role(user=viewer, merchant_id=merchant_id, area=STATEMENTS)
    statement = MerchantStatement.objects.filter(merchant_id=merchant_id, pk=statement_id).first()
    if statement is None:
        raise StatementNotFound(statement_id=statement_id)
    return statement


def statement_line_list(*, statement: MerchantStatement) -> QuerySet[MerchantStatementLine]:
    """The statement's lines in the order they were written (time, then entry)."""
    return MerchantStatementLine.objects.filter(statement=statement).order_by("pk")
