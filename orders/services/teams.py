"""Team purchase (拼团, docs/design.md "Team purchase").

The rules, and who enforces them:

- A buyer opens a team of the SKU's ``team_size`` at its ``team_price_fen``, or joins an
  open one, with an order of that one SKU. The **seat is taken when the order is
  created** by one conditional UPDATE (``members_count < size`` in its WHERE, plus
  open and not expired) — exactly ``size`` seats under any concurrency, the
  ``members_count <= size`` check constraint as backstop — and one live seat per buyer
  per team (a partial unique constraint). It is given back when the unpaid order is
  cancelled or times out (``team_release_seat``, called from ``order_cancel``).
- New-customers-only teams (老带新): joiners must have no earlier paid order; the opener
  may be anyone. Members are only ever real orders: nothing creates fake members.
- **Payment** moves a team order to ``awaiting_team``; the team row is locked and the
  seat marked paid; the ``size``-th payment inside the window succeeds the team and
  moves all its orders to ``paid`` (fulfilment), in the same transaction.
- **Commission accrues at payment**, not at team success: the ``paid`` hook fires once,
  in the transaction that applies the (exactly-once) payment callback, as for any order.
  The money is with us from that moment; accruals stay *pending* until the order
  completes, so nobody can withdraw them early; a failed team is refunded in full by
  ``order_refund_full``, which reverses pending accruals exactly as it does for any
  refund before shipping — one path for every refund instead of a team special case
  (and no second place that could forget to accrue).
- **Window expiry** (the ``teams_expire_due`` sweeper, in ``sweepers.py``): an open team
  past ``expires_at`` fails (a compare-and-set, in its own short transaction); then
  each of its orders is handled in its own transaction: unpaid ones are cancelled
  (``order_cancel``), paid ones refunded in full (``order_refund_full``, idempotent).
  The sweeper re-derives that work from the database every run, so a crash or a
  payment landing after the failure is picked up next time.

Lock order everywhere: payment → orders → team → (other teams' paid orders). The
expiry never holds the team row while it touches payments, so it cannot deadlock with
a payment callback.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from orders.errors import (
    InvalidCheckout,
    TeamAlreadyJoined,
    TeamFull,
    TeamNewCustomersOnly,
    TeamNotFound,
    TeamNotJoinable,
)
from orders.models import Order, Team, TeamMember
from products.models import Sku

from .notify import order_notify_buyer_team, order_notify_merchant_to_ship
from .transitions import order_move


def sku_team_terms(*, sku: Sku) -> tuple[int, int]:
    """``(team price, team size)`` of a SKU, or 400 if it is not sold in teams."""
    if not sku.team_price_fen or not sku.team_size:
        raise InvalidCheckout(fields={"team": ["This item is not sold in teams."]})
    return sku.team_price_fen, sku.team_size


def buyer_has_paid_order(*, buyer_id: int) -> bool:
    return Order.objects.filter(buyer_id=buyer_id, paid_at__isnull=False).exists()


def team_check_joinable(*, team_id: int, buyer, sku: Sku, now: datetime) -> Team:
    """Why ``buyer`` could not take a seat in ``team_id`` now, raised; else the team.
    Reads only: the quote's answer, and the early answer of checkout (the conditional
    UPDATE of ``team_take_seat`` stays the guard)."""
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise TeamNotFound()
    if team.sku_id != sku.pk:
        raise InvalidCheckout(fields={"team": ["This team buys another item."]})
    if team.status != Team.Status.OPEN or team.expires_at <= now:
        raise TeamNotJoinable(team_id=team.pk)
    if TeamMember.objects.filter(team=team, buyer=buyer).exclude(status=TeamMember.Status.RELEASED).exists():
        raise TeamAlreadyJoined(team_id=team.pk)
    if team.members_count >= team.size:
        raise TeamFull(team_id=team.pk)
    if team.new_customers_only and buyer_has_paid_order(buyer_id=buyer.pk):
        raise TeamNewCustomersOnly(team_id=team.pk)
    return team


def team_open(*, sku: Sku, store_id: int, leader, new_customers_only: bool, now: datetime) -> Team:
    """A new open team of the SKU's size; its leader takes the first seat with the order."""
    _, size = sku_team_terms(sku=sku)
    return Team.objects.create(
        sku=sku,
        store_id=store_id,
        leader=leader,
        size=size,
        new_customers_only=new_customers_only,
        expires_at=now + settings.SHOP_RULES["TEAM_WINDOW"],
    )


def team_take_seat(*, team: Team, order: Order, buyer, is_leader: bool, now: datetime) -> TeamMember:
    """Take one seat for ``order`` (inside checkout's transaction), or raise and write
    nothing. One conditional UPDATE decides it, so a team never gets more than ``size``
    members; the partial unique constraint keeps a buyer to one live seat."""
    if not is_leader and team.new_customers_only and buyer_has_paid_order(buyer_id=buyer.pk):
        raise TeamNewCustomersOnly(team_id=team.pk)
    taken = Team.objects.filter(
        pk=team.pk, status=Team.Status.OPEN, expires_at__gt=now, members_count__lt=F("size")
    ).update(members_count=F("members_count") + 1)
    if taken != 1:
        current = Team.objects.filter(pk=team.pk).values_list("status", "expires_at").first()
        if current is None or current[0] != Team.Status.OPEN or current[1] <= now:
            raise TeamNotJoinable(team_id=team.pk)
        raise TeamFull(team_id=team.pk)
    try:
        with transaction.atomic():  # savepoint: the caller's transaction stays usable
            return TeamMember.objects.create(
                team=team, order=order, buyer=buyer, is_leader=is_leader, joined_at=now
            )
    except IntegrityError:
        raise TeamAlreadyJoined(team_id=team.pk) from None


def team_seat_for_order(*, order_id: int) -> TeamMember | None:
    return TeamMember.objects.filter(order_id=order_id).first()


def team_release_seat(*, order_id: int) -> bool:
    """The unpaid order was cancelled (by the buyer, a time-out or the team's failure):
    its seat is free again. Idempotent (compare-and-set on the seat's status)."""
    seat = TeamMember.objects.filter(order_id=order_id, status=TeamMember.Status.HELD).first()
    if seat is None:
        return False
    if not TeamMember.objects.filter(pk=seat.pk, status=TeamMember.Status.HELD).update(
        status=TeamMember.Status.RELEASED
    ):
        return False
    Team.objects.filter(pk=seat.team_id, members_count__gt=0).update(members_count=F("members_count") - 1)
    return True


def team_record_payment(*, order: Order, now: datetime) -> Team:
    """Inside the payment transaction, after ``order`` moved to ``awaiting_team``: lock
    the team, mark the seat paid, and when this is the ``size``-th payment inside the
    window, succeed the team and move every one of its orders to ``paid``.

    A payment that lands after the team failed (or after its window) leaves the order in
    ``awaiting_team``: the expiry sweeper refunds it in full."""
    seat = TeamMember.objects.get(order_id=order.pk)
    team = Team.objects.select_for_update(no_key=True).get(pk=seat.team_id)
    if not TeamMember.objects.filter(pk=seat.pk, status=TeamMember.Status.HELD).update(
        status=TeamMember.Status.PAID
    ):
        return team  # already recorded (a payment is applied once; this is the backstop)
    team.paid_count += 1
    fields = ["paid_count", "updated_at"]
    if team.status == Team.Status.OPEN and team.paid_count >= team.size and now < team.expires_at:
        team.status, team.succeeded_at = Team.Status.SUCCEEDED, now
        fields += ["status", "succeeded_at"]
    team.save(update_fields=fields)
    if team.status == Team.Status.SUCCEEDED and "status" in fields:
        _team_orders_to_paid(team=team)
    return team


def _team_orders_to_paid(*, team: Team) -> None:
    paid_orders = (
        Order.objects.filter(team_member__team=team, team_member__status=TeamMember.Status.PAID)
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
    )
    for order in list(paid_orders):
        if order.status != Order.Status.AWAITING_TEAM:
            continue
        order_move(order, Order.Status.PAID, note=f"Team {team.pk} complete ({team.size} paid)")
        order_notify_buyer_team(order=order, team=team, succeeded=True)
        order_notify_merchant_to_ship(order=order)


@transaction.atomic
def team_fail(*, team_id: int, now: datetime) -> bool:
    """An open team whose window closed fails (compare-and-set; failing twice is a no-op),
    and the buyers of its live seats are told, in the same transaction."""
    failed = bool(
        Team.objects.filter(pk=team_id, status=Team.Status.OPEN, expires_at__lte=now).update(
            status=Team.Status.FAILED, failed_at=now, updated_at=now
        )
    )
    if failed:
        team = Team.objects.get(pk=team_id)
        seats = (
            TeamMember.objects.filter(team_id=team_id)
            .exclude(status=TeamMember.Status.RELEASED)
            .select_related("order")
            .order_by("pk")
        )
        for seat in seats:
            order_notify_buyer_team(order=seat.order, team=team, succeeded=False)
    return failed
