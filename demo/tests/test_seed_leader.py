"""``seed_demo``'s leader: certified, a sale venue with a selection, a pickup point, and a
paid order bound for it — and seeding twice adds nothing."""

from __future__ import annotations

import pytest

from demo.seed import LEADER_OPENID, seed_catalog, seed_leader, seed_store
from groupstore.models import Leader, PickupPoint, Store, VenueSelection
from orders.models import Order, Pickup

pytestmark = pytest.mark.django_db


def test_the_demo_leader_runs_a_venue_with_a_selection_and_a_pickup_point():
    said: list[str] = []
    seed_catalog(said.append)
    seed_store(said.append)

    first = seed_leader(said.append)
    again = seed_leader(said.append)

    assert first.pk == again.pk
    store = Store.objects.get(pk=first.pk)
    assert store.is_venue
    assert Leader.objects.get(user__openid=LEADER_OPENID).status == Leader.Status.CERTIFIED
    assert VenueSelection.objects.filter(store=store).count() == 3
    point = PickupPoint.objects.get(leader__openid=LEADER_OPENID)
    assert point.is_open
    (order,) = Order.objects.filter(store=store)
    assert order.status == Order.Status.PAID
    assert order.pickup_point_id == point.pk
    assert Pickup.objects.get(order=order).status == Pickup.Status.AWAITING_PARCEL
    assert any("sandbox:demo-leader" in line for line in said)
