"""Pickup codes (docs/design.md "Pickup delivery"): the 6-digit code each parcel bound for a
leader's pickup point carries, drawn at checkout and freed when the order is cancelled.

A code is unique among the point's parcels not yet collected: the partial unique
constraint ``pickup_code_unique_uncollected`` is the guard, so two checkouts drawing the
same code at once cannot both keep it (the second draws again, in its own savepoint).
Codes come from ``secrets``: the code is what proves a buyer at the counter.
"""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from orders.models import Order, Pickup
from shop.errors import Conflict

CODE_DIGITS = 6
MAX_DRAWS = 20  # a million codes per point: twenty clashes in a row means the point is full


def pickup_code_draw() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def pickups_create(*, orders: list[Order], point_id: int) -> list[Pickup]:
    """One pickup (with a fresh code) per order of a checkout shipped to ``point_id``. Runs
    inside checkout's transaction; each draw in a savepoint, so a clash costs one retry."""
    pickups = []
    for order in orders:
        for _ in range(MAX_DRAWS):
            try:
                with transaction.atomic():
                    pickup = Pickup.objects.create(order=order, point_id=point_id, code=pickup_code_draw())
                pickups.append(pickup)
                break
            except IntegrityError:
                continue
        else:
            raise Conflict("This pickup point has no free pickup code left; choose home delivery.")
    return pickups


def pickups_close(*, order_ids: list[int]) -> int:
    """Orders cancelled (never paid): their parcels will not come, their codes are free again."""
    return Pickup.objects.filter(order_id__in=order_ids, status__in=Pickup.UNCOLLECTED).update(
        status=Pickup.Status.CLOSED
    )
