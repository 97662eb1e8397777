"""Goose Share Group leaders and their sale venues (docs/design.md "Group store").

Ops issue invitation codes in batches; a shopper registers as a leader with a code;
ops certify (or reject, or later withdraw). A certified leader's stores are sale
venues: the leader curates their product selection and is told of every paid order
in them — with what they need to act on it, never a member's phone or address.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from products.models import Product
from shop.errors import ValidationFailed
from shop.notifications.models import Notification
from shop.notifications.services import notification_send

from ..errors import (
    InvitationCodeExpired,
    InvitationCodeInvalid,
    InvitationCodeUsedUp,
    LeaderNotReviewable,
    NotALeader,
    NotStoreOwner,
    StoreFrozen,
    StoreNotFound,
    StoreNotVenue,
)
from ..locks import store_qs_for_update
from ..models import InvitationCode, Leader, Membership, Store, VenueSelection

# No 0/O, 1/I/L: codes are read aloud and typed from screenshots. 32 symbols × 12 = 60 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
MAX_CODES_PER_BATCH = 1_000
MAX_SELECTION = 200


# --- Invitation codes -------------------------------------------------------------


def invitation_code_normalize(code: str) -> str:
    """What a shopper types → the stored form: upper case, no spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def invitation_codes_generate(
    *,
    count: int,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    batch: str = "",
    created_by=None,
    now: datetime | None = None,
) -> list[InvitationCode]:
    """Ops: a batch of ``count`` fresh random codes, each usable ``max_uses`` times until
    ``expires_at`` (None: no expiry)."""
    now = now or timezone.now()
    problems: dict[str, list[str]] = {}
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        problems["count"] = [f"Between 1 and {MAX_CODES_PER_BATCH}."]
    if max_uses < 1:
        problems["max_uses"] = ["At least 1."]
    if expires_at is not None and expires_at <= now:
        problems["expires_at"] = ["Must be in the future."]
    if problems:
        raise ValidationFailed(fields=problems)
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
    return InvitationCode.objects.bulk_create(
        [
            InvitationCode(
                code=code, max_uses=max_uses, expires_at=expires_at, batch=batch[:60], created_by=created_by
            )
            for code in sorted(codes)
        ]
    )


def _invitation_code_use(*, code: str, now: datetime) -> InvitationCode:
    """Use one of the code's uses, or say why not. One conditional UPDATE: concurrent
    registrations queue on the code's row and never use it more than ``max_uses`` times."""
    invitation = InvitationCode.objects.filter(code=invitation_code_normalize(code)).first()
    if invitation is None:
        raise InvitationCodeInvalid(fields={"invitation_code": ["No such invitation code."]})
    used = (
        InvitationCode.objects.filter(pk=invitation.pk, used_count__lt=F("max_uses"))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .update(used_count=F("used_count") + 1, updated_at=now)
    )
    if not used:
        invitation.refresh_from_db(fields=["used_count", "expires_at"])
        if invitation.expires_at is not None and invitation.expires_at <= now:
            raise InvitationCodeExpired()
        raise InvitationCodeUsedUp()
    return invitation


# --- Leaders ------------------------------------------------------------------------


def leader_register(*, user, invitation_code: str, now: datetime | None = None) -> tuple[Leader, bool]:
    """A shopper applies to be a leader with an invitation code; ops certify later.

    Returns ``(leader, created)``. Registering again while applied or certified changes
    nothing and uses no code (so a double tap, or twenty at once, uses the code once);
    a rejected shopper may apply again with a code that still has a use left.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            leader = Leader.objects.select_for_update().filter(user=user).first()
            if leader is not None and leader.status != Leader.Status.REJECTED:
                return leader, False
            invitation = _invitation_code_use(code=invitation_code, now=now)
            if leader is None:
                # Two first registrations of one user race here: the unique user column
                # admits one, the other rolls back (its code use included) below.
                return Leader.objects.create(user=user, invitation_code=invitation), True
            leader.status = Leader.Status.APPLIED
            leader.invitation_code = invitation
            leader.reviewed_at, leader.reviewed_by, leader.rejection_reason = None, None, ""
            leader.save(
                update_fields=[
                    "status",
                    "invitation_code",
                    "reviewed_at",
                    "reviewed_by",
                    "rejection_reason",
                    "updated_at",
                ]
            )
            return leader, True
    except IntegrityError:
        return Leader.objects.get(user=user), False


def _leader_for_review(leader_id: int) -> Leader:
    leader = Leader.objects.select_for_update(no_key=True).filter(pk=leader_id).first()
    if leader is None:
        raise LeaderNotReviewable("No such leader application.")
    return leader


@transaction.atomic
def leader_certify(*, leader_id: int, actor=None, now: datetime | None = None) -> Leader:
    """Ops certify a leader: their stores (and any they create later) become sale venues.
    Certifying again is a no-op; a rejected application must be renewed first (409)."""
    now = now or timezone.now()
    leader = _leader_for_review(leader_id)
    if leader.status == Leader.Status.CERTIFIED:
        return leader
    if not leader.can_move_to(Leader.Status.CERTIFIED):
        raise LeaderNotReviewable(f"A {leader.get_status_display().lower()} application cannot be certified.")
    leader.status = Leader.Status.CERTIFIED
    leader.certified_at = leader.reviewed_at = now
    leader.reviewed_by = actor
    leader.save(update_fields=["status", "certified_at", "reviewed_at", "reviewed_by", "updated_at"])
    Store.objects.filter(owner_id=leader.user_id, is_venue=False).update(is_venue=True, updated_at=now)
    notification_send(
        recipient_id=leader.user_id,
        kind="leader_certified",
        title="你已通过团长认证",
        body="Your stores are now sale venues: choose their products.",
        data={"leader_id": leader.pk},
        dedupe_key=f"leader-certified:{leader.pk}:{now.isoformat()}",
    )
    return leader


@transaction.atomic
def leader_reject(*, leader_id: int, reason: str = "", actor=None, now: datetime | None = None) -> Leader:
    """Ops reject an application, or withdraw a certification: the leader's stores stop
    being sale venues (their selections are kept for a later certification). Rejecting
    again is a no-op."""
    now = now or timezone.now()
    leader = _leader_for_review(leader_id)
    if leader.status == Leader.Status.REJECTED:
        return leader
    was_certified = leader.status == Leader.Status.CERTIFIED
    leader.status = Leader.Status.REJECTED
    leader.reviewed_at, leader.reviewed_by, leader.rejection_reason = now, actor, reason[:200]
    leader.save(update_fields=["status", "reviewed_at", "reviewed_by", "rejection_reason", "updated_at"])
    if was_certified:
        Store.objects.filter(owner_id=leader.user_id, is_venue=True).update(is_venue=False, updated_at=now)
    notification_send(
        recipient_id=leader.user_id,
        kind="leader_rejected",
        title="团长认证未通过" if not was_certified else "团长认证已撤销",
        body=reason,
        data={"leader_id": leader.pk},
        dedupe_key=f"leader-rejected:{leader.pk}:{now.isoformat()}",
    )
    return leader


# --- Sale venues ----------------------------------------------------------------------


def venue_selection_set(
    *, store_id: int, user, product_ids: list[int], now: datetime | None = None
) -> list[int]:
    """The leader replaces the venue's curated products (in the given order). Only the
    store's owner, a certified leader, may (a member 403, a stranger 404); only products
    on sale, each once (400 naming the bad entries). Returns the stored product ids."""
    now = now or timezone.now()
    membership = Membership.objects.select_related("store").filter(store_id=store_id, user=user).first()
    if membership is None:
        raise StoreNotFound()
    if membership.store.owner_id != user.pk:
        raise NotStoreOwner("Only the store's owner, as a certified leader, may curate its sale venue.")
    if not Leader.objects.filter(user=user, status=Leader.Status.CERTIFIED).exists():
        raise NotALeader()
    _selection_validate(product_ids)
    with transaction.atomic():
        # One writer at a time per store, so two concurrent PUTs leave one whole selection.
        store = store_qs_for_update().get(pk=store_id)
        if store.is_frozen:
            raise StoreFrozen()
        if not store.is_venue:
            raise StoreNotVenue()
        VenueSelection.objects.filter(store=store).delete()
        VenueSelection.objects.bulk_create(
            [
                VenueSelection(store=store, product_id=pid, position=i, added_by=user, added_at=now)
                for i, pid in enumerate(product_ids)
            ]
        )
    return list(product_ids)


def _selection_validate(product_ids: list[int]) -> None:
    problems: dict[str, list[str]] = {}
    if len(product_ids) > MAX_SELECTION:
        raise ValidationFailed(fields={"product_ids": [f"At most {MAX_SELECTION} products."]})
    on_sale = set(
        Product.objects.filter(pk__in=product_ids, status=Product.Status.ON_SALE).values_list("pk", flat=True)
    )
    seen: set[int] = set()
    for index, product_id in enumerate(product_ids):
        if product_id in seen:
            problems[f"product_ids.{index}"] = ["Listed twice."]
        elif product_id not in on_sale:
            problems[f"product_ids.{index}"] = [f"Product {product_id} is not on sale."]
        seen.add(product_id)
    if problems:
        raise ValidationFailed(fields=problems)


def venue_order_notify(*, order) -> Notification | None:
    """Tell the venue's leader of a paid order in it (for orders to call in the payment's
    transaction, after pushing the store's figures). What the leader gets: the order,
    the buyer's nickname, the items and the amount — never the buyer's phone or address
    (the merchant ships; the leader only needs to know and follow up in the group).
    Sent once per order, however often it is called. None when the store is no venue."""
    store = Store.objects.filter(pk=order.store_id).only("pk", "name", "owner_id", "is_venue").first()
    if store is None or not store.is_venue:
        return None
    if not Leader.objects.filter(user_id=store.owner_id, status=Leader.Status.CERTIFIED).exists():
        return None
    items = [
        {"product_title": item.product_title, "spec": item.spec, "qty": item.qty, "paid_fen": item.paid_fen}
        for item in order.items.order_by("pk")
    ]
    nickname = (
        Membership.objects.filter(store_id=store.pk, user_id=order.buyer_id)
        .values_list("user__nickname", flat=True)
        .first()
        or ""
    )
    return notification_send(
        recipient_id=store.owner_id,
        kind="venue_order_paid",
        title=f"{store.name} 有新订单",
        body=f"{nickname or '一位成员'} 下单 {len(items)} 件商品。",
        data={
            "order_id": order.pk,
            "store_id": store.pk,
            "buyer_nickname": nickname,
            "paid_fen": order.paid_fen,
            "paid_at": order.paid_at.isoformat() if order.paid_at else None,
            "items": items,
        },
        dedupe_key=f"venue-order-paid:{order.pk}",
    )
