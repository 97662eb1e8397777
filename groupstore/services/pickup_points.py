"""Leaders' pickup points (docs/design.md "Pickup delivery").

A certified leader runs at most one point: ``PUT /leaders/me/pickup-point`` opens it or
changes it, ``DELETE`` closes it for new orders (parcels already bound for it are still
handed out). Members of the leader's venues may then check out with the point instead
of a home address; the orders app keeps the parcels and their codes.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from shop.errors import ValidationFailed

from ..errors import NotALeader, PickupPointNotFound, PickupPointUnavailable
from ..models import Leader, PickupPoint

POINT_FIELDS = ("name", "region", "address", "opening_hours", "contact_name", "contact_phone")


def _require_certified(user) -> None:
    if not Leader.objects.filter(user=user, status=Leader.Status.CERTIFIED).exists():
        raise NotALeader("Only a certified leader may run a pickup point.")


@transaction.atomic
def pickup_point_put(*, leader, now: datetime | None = None, **fields: str) -> tuple[PickupPoint, bool]:
    """Open the leader's point, or change it (and reopen it if it was closed). Returns
    ``(point, created)``. A leader who is not certified: 403."""
    _require_certified(leader)
    now = now or timezone.now()
    values = {name: fields[name] for name in POINT_FIELDS}
    point, created = PickupPoint.objects.select_for_update(no_key=True).get_or_create(
        leader=leader, defaults=values
    )
    if not created:
        for name, value in values.items():
            setattr(point, name, value)
        point.is_open, point.closed_at = True, None
        point.save(update_fields=[*POINT_FIELDS, "is_open", "closed_at", "updated_at"])
    return point, created


@transaction.atomic
def pickup_point_close(*, leader, now: datetime | None = None) -> PickupPoint:
    """Close the leader's point for new orders; closing twice is a no-op. No point: 404."""
    point = PickupPoint.objects.select_for_update(no_key=True).filter(leader=leader).first()
    if point is None:
        raise PickupPointNotFound()
    if point.is_open:
        point.is_open, point.closed_at = False, now or timezone.now()
        point.save(update_fields=["is_open", "closed_at", "updated_at"])
    return point


def pickup_point_for_checkout(*, point_id: int, store_owner_id: int) -> PickupPoint:
    """The point a checkout through a store of ``store_owner_id`` may ship to: the store's
    own leader's, open, the leader still certified. Another leader's point (or none) is a
    400 on the field; a closed one, or a leader no longer certified, 409."""
    point = PickupPoint.objects.filter(pk=point_id, leader_id=store_owner_id).first()
    if point is None:
        raise ValidationFailed(
            fields={"delivery.pickup_point_id": ["Not a pickup point of this store's leader."]}
        )
    if not point.is_open:
        raise PickupPointUnavailable()
    if not Leader.objects.filter(user_id=store_owner_id, status=Leader.Status.CERTIFIED).exists():
        raise PickupPointUnavailable("This store's leader is not certified: the point takes no orders.")
    return point
