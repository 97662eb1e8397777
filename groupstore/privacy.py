"""The group-store part of a person's data (``accounts/privacy.py``): the stores they own,
their memberships and their leader record. Stores and memberships stay when the account is
erased (other members' figures and the ledger point at them), tied to the pseudonymised
user; an owner whose store still has members' commission pending cannot leave yet, and the
stores of an erased owner are frozen."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from shop.money import fen_display

from .models import Leader, Membership, PickupPoint, Store, StoreStats


def _stores_export(user) -> list[dict[str, Any]]:
    return [
        {"id": store.pk, "name": store.name, "created_at": store.created_at, "is_venue": store.is_venue}
        for store in Store.objects.filter(owner=user).order_by("pk")
    ]


def _memberships_export(user) -> list[dict[str, Any]]:
    memberships = Membership.objects.filter(user=user).select_related("store").order_by("pk")
    return [
        {
            "store_id": m.store_id,
            "store_name": m.store.name,
            "role": m.role,
            "joined_at": m.joined_at,
            "orders_count": m.orders_count,
            "paid_fen": m.paid_fen,
            "saved_fen": m.saved_fen,
            "rebate_fen": m.rebate_fen,
            "envelope_fen": m.envelope_fen,
        }
        for m in memberships
    ]


def _leader_export(user) -> dict[str, Any] | None:
    leader = Leader.objects.filter(user=user).first()
    if leader is None:
        return None
    point = PickupPoint.objects.filter(leader=user).first()
    return {
        "status": leader.status,
        "certified_at": leader.certified_at,
        "applied_at": leader.created_at,
        "pickup_point": None
        if point is None
        else {
            "name": point.name,
            "region": point.region,
            "address": point.address,
            "opening_hours": point.opening_hours,
            "contact_name": point.contact_name,
            "contact_phone": point.contact_phone,
            "is_open": point.is_open,
        },
    }


def _open_duties(user) -> list[str]:
    pending = StoreStats.objects.filter(store__owner=user, commission_pending_fen__gt=0).select_related(
        "store"
    )
    return [
        f"Your store “{stats.store.name}” has {fen_display(stats.commission_pending_fen)} of members' "
        "commission pending: wait until it is settled."
        for stats in pending.order_by("store_id")
    ]


def _erase(user) -> None:
    """The person's stores are frozen (no new orders or joins through them, no commission):
    nobody could ever withdraw what an erased owner's wallet would earn. Members keep their
    history; ops may hand a store to a new owner and lift the freeze."""
    from .services import store_freeze

    for store_id in (
        Store.objects.filter(owner=user, is_frozen=False).order_by("pk").values_list("pk", flat=True)
    ):
        store_freeze(store_id=store_id, reason="The owner closed their account.")
    # The leader's pickup point closes, and the contact carriers called is forgotten.
    PickupPoint.objects.filter(leader=user).update(
        is_open=False, closed_at=timezone.now(), contact_name="", contact_phone=""
    )


def register_privacy() -> None:
    from accounts.privacy import register_privacy_section

    register_privacy_section(name="stores", export=_stores_export, open_duties=_open_duties, erase=_erase)
    register_privacy_section(name="memberships", export=_memberships_export)
    register_privacy_section(name="leader", export=_leader_export)
