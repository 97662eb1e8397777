"""A failed team refunds every paid order in full, automatically and once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from groupstore.tests.factories import make_store
from orders.models import Order, Team
from orders.services.sweepers import teams_expire_due

from .helpers import buy, buy_paid, team_sku

pytestmark = pytest.mark.django_db


def test_window_expiry_refunds_every_paid_order_in_full_once():
    store, _, (a, b, c) = make_store(members=3)
    sku = team_sku(team_size=3, on_hand=10)
    now = timezone.now()
    first = buy_paid(buyer=a, store=store, sku=sku, team={"open": True}, now=now)
    team = Team.objects.get()
    second = buy_paid(buyer=b, store=store, sku=sku, team={"join": team.pk}, now=now)
    unpaid = buy(buyer=c, store=store, sku=sku, team={"join": team.pk}, now=now).orders[0]
    Order.objects.filter(pk=unpaid.pk).update(pay_deadline_at=now + timedelta(days=2))
    later = now + timedelta(hours=24, minutes=1)

    teams_expire_due(later)
    teams_expire_due(later)  # again: nothing refunded twice

    team.refresh_from_db()
    assert team.status == "failed"
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == ("refunded", order.paid_fen)
    unpaid.refresh_from_db()
    assert unpaid.status == "cancelled"
    sku.refresh_from_db()
    assert sku.reserved == 0
