"""Team purchase rules (docs/design.md "Team purchase"), through the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.errors import (
    InvalidCheckout,
    TeamAlreadyJoined,
    TeamFull,
    TeamNewCustomersOnly,
    TeamNotFound,
    TeamNotJoinable,
)
from orders.models import Order, OrderEvent, Team, TeamMember
from orders.services import sweepers
from orders.services.checkout import checkout_quote
from orders.services.lifecycle import order_cancel
from orders.services.sweepers import orders_cancel_unpaid, teams_expire_due
from products.tests.factories import SkuFactory
from shop.ledger.models import Transaction
from shop.payments.models import Payment

from .helpers import buy, buy_paid, team_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store, _, members = make_store(members=5)
    return store, members, team_sku()


def test_opening_a_team_takes_the_first_seat_at_the_team_price(shop):
    store, (leader, *_), sku = shop
    now = timezone.now()

    result = buy(buyer=leader, store=store, sku=sku, qty=2, team={"open": True}, now=now)

    (order,) = result.orders
    team = Team.objects.get()
    assert (team.sku_id, team.leader_id, team.size, team.members_count, team.paid_count, team.status) == (
        sku.pk,
        leader.pk,
        3,
        1,
        0,
        "open",
    )
    assert team.expires_at == now + timedelta(hours=24)
    item = order.items.get()
    assert (item.price_kind, item.unit_price_fen, item.sale_fen, item.paid_fen) == (
        "team",
        1_990,
        3_980,
        3_980,
    )
    assert (order.list_fen, order.sale_fen, order.paid_fen, result.payment.amount_fen) == (
        5_980,
        3_980,
        3_980,
        3_980,
    )
    assert TeamMember.objects.get().is_leader is True


def test_paying_moves_to_awaiting_team_and_the_last_payment_moves_every_order_to_paid(shop):
    store, (a, b, c, *_), sku = shop
    first = buy_paid(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    assert first.status == Order.Status.AWAITING_TEAM
    second = buy_paid(buyer=b, store=store, sku=sku, team={"join": team.pk})
    assert second.status == Order.Status.AWAITING_TEAM
    team.refresh_from_db()
    assert (team.members_count, team.paid_count, team.status) == (2, 2, "open")

    third = buy_paid(buyer=c, store=store, sku=sku, team={"join": team.pk})

    team.refresh_from_db()
    assert (team.members_count, team.paid_count, team.status) == (3, 3, "succeeded")
    assert team.succeeded_at is not None
    assert set(Order.objects.values_list("status", flat=True)) == {"paid"}
    for order in (first, second, third):
        kinds = list(OrderEvent.objects.filter(order=order).order_by("pk").values_list("kind", flat=True))
        assert kinds == ["created", "awaiting_team", "paid"]
        # commission accrued once per order, at payment
        assert Transaction.objects.filter(idempotency_key=f"order:{order.pk}:accrue").count() == 1


def test_a_full_team_refuses_the_next_joiner_and_writes_nothing(shop):
    store, (a, b, c, d, _), sku = shop
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    buy(buyer=b, store=store, sku=sku, team={"join": team.pk})
    buy(buyer=c, store=store, sku=sku, team={"join": team.pk})
    before = (Order.objects.count(), Payment.objects.count(), TeamMember.objects.count())

    with pytest.raises(TeamFull):
        buy(buyer=d, store=store, sku=sku, team={"join": team.pk})

    team.refresh_from_db()
    sku.refresh_from_db()
    assert team.members_count == 3
    assert (Order.objects.count(), Payment.objects.count(), TeamMember.objects.count()) == before
    assert sku.reserved == 3


def test_a_buyer_joins_a_team_once(shop):
    store, (a, b, *_), sku = shop
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    buy(buyer=b, store=store, sku=sku, team={"join": team.pk})

    with pytest.raises(TeamAlreadyJoined):
        buy(buyer=b, store=store, sku=sku, team={"join": team.pk})
    with pytest.raises(TeamAlreadyJoined):
        buy(buyer=a, store=store, sku=sku, team={"join": team.pk})
    team.refresh_from_db()
    assert team.members_count == 2
    assert Order.objects.count() == 2


def test_cancelling_an_unpaid_team_order_gives_the_seat_back(shop):
    store, (a, b, c, d, _), sku = shop
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    buy(buyer=b, store=store, sku=sku, team={"join": team.pk})
    leaving = buy(buyer=c, store=store, sku=sku, team={"join": team.pk}).orders[0]

    order_cancel(order_id=leaving.pk, actor=c)
    order_cancel(order_id=leaving.pk, actor=c)  # twice: no-op

    team.refresh_from_db()
    assert team.members_count == 2
    assert TeamMember.objects.get(order=leaving).status == "released"
    buy(buyer=d, store=store, sku=sku, team={"join": team.pk})  # the seat is free again
    buy(buyer=c, store=store, sku=sku, team={"open": True})  # and c may open another
    team.refresh_from_db()
    assert team.members_count == 3


def test_an_unpaid_time_out_gives_the_seat_back(shop):
    store, (a, b, *_), sku = shop
    now = timezone.now()
    buy(buyer=a, store=store, sku=sku, team={"open": True}, now=now)
    team = Team.objects.get()
    buy(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=now)

    orders_cancel_unpaid(now + timedelta(minutes=16))

    team.refresh_from_db()
    assert team.members_count == 0
    assert set(TeamMember.objects.values_list("status", flat=True)) == {"released"}


def test_new_customers_only_team_refuses_a_shopper_who_has_paid_before(shop):
    store, (opener, veteran, newcomer, *_), sku = shop
    buy_paid(buyer=veteran, store=store, sku=SkuFactory())
    buy_paid(buyer=opener, store=store, sku=SkuFactory())  # the opener may be anyone
    buy(buyer=opener, store=store, sku=sku, team={"open": True, "new_customers_only": True})
    team = Team.objects.get()
    orders_before = Order.objects.count()

    with pytest.raises(TeamNewCustomersOnly):
        checkout_quote(
            buyer=veteran, store_id=store.pk, items=[{"sku_id": sku.pk, "qty": 1}], team={"join": team.pk}
        )
    with pytest.raises(TeamNewCustomersOnly):
        buy(buyer=veteran, store=store, sku=sku, team={"join": team.pk})
    buy(buyer=newcomer, store=store, sku=sku, team={"join": team.pk})

    team.refresh_from_db()
    assert team.new_customers_only is True
    assert team.members_count == 2
    assert Order.objects.count() == orders_before + 1


def test_team_refusals(shop):
    store, (a, b, *_), sku = shop
    plain = SkuFactory()
    with pytest.raises(InvalidCheckout):
        buy(buyer=a, store=store, sku=plain, team={"open": True})
    with pytest.raises(TeamNotFound):
        buy(buyer=a, store=store, sku=sku, team={"join": 999_999})
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    other = team_sku()
    with pytest.raises(InvalidCheckout):
        buy(buyer=b, store=store, sku=other, team={"join": team.pk})
    with pytest.raises(TeamNotJoinable):
        buy(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=team.expires_at)
    assert Order.objects.count() == 1
    assert Team.objects.count() == 1


def test_window_expiry_fails_the_team_and_cancels_its_unpaid_orders(shop):
    store, (a, b, *_), sku = shop
    now = timezone.now()
    paid = buy_paid(buyer=a, store=store, sku=sku, team={"open": True}, now=now)
    team = Team.objects.get()
    unpaid = buy(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=now).orders[0]
    Order.objects.filter(pk=unpaid.pk).update(pay_deadline_at=now + timedelta(days=2))  # not timed out yet
    refunds: list[dict] = []

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweepers, "order_refund_full", lambda **kw: refunds.append(kw))
        teams_expire_due(now + timedelta(hours=23))  # not yet
        team.refresh_from_db()
        assert team.status == "open"
        later = now + timedelta(hours=24, seconds=1)
        teams_expire_due(later)

    team.refresh_from_db()
    unpaid.refresh_from_db()
    assert (team.status, team.failed_at) == ("failed", later)
    assert unpaid.status == "cancelled"
    assert refunds == [{"order_id": paid.pk, "reason": "team_failed", "now": later}]
    sku.refresh_from_db()
    assert sku.reserved == 1  # the paid order's unit: released by its refund, not here


def test_a_payment_after_the_window_does_not_succeed_the_team(shop):
    store, (a, b, c, *_), sku = shop
    now = timezone.now()
    buy_paid(buyer=a, store=store, sku=sku, team={"open": True}, now=now)
    team = Team.objects.get()
    buy_paid(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=now)
    last = buy(buyer=c, store=store, sku=sku, team={"join": team.pk}, now=now)
    Team.objects.filter(pk=team.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    from .helpers import sandbox_pay

    sandbox_pay(last.payment)

    team.refresh_from_db()
    assert (team.status, team.paid_count) == ("open", 3)
    assert set(Order.objects.values_list("status", flat=True)) == {"awaiting_team"}


def test_run_sweepers_runs_the_team_expiry(shop):
    store, (a, *_), sku = shop
    now = timezone.now()
    buy(buyer=a, store=store, sku=sku, team={"open": True}, now=now)

    call_command("run_sweepers", "--now", (now + timedelta(hours=25)).isoformat())

    assert Team.objects.get().status == "failed"
    assert Order.objects.get().status == "cancelled"


def test_a_stranger_may_not_join_through_a_store_they_are_not_in(shop):
    store, (a, *_), sku = shop
    buy(buyer=a, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    from groupstore.errors import NotStoreMember

    with pytest.raises(NotStoreMember):
        buy(buyer=UserFactory(), store=store, sku=sku, team={"join": team.pk})
    assert Team.objects.get().members_count == 1
