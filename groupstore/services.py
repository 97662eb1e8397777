"""Group stores: creation, chat-group binding, share links, joining, and the aggregates.

Ownership rules (DESIGN.md "Group store — share-link ownership"): a chat group has at
most one store, bound the first time a card is opened inside that group; concurrent
first binds yield one store and no error for the losers, who join it. Owners are
never changed by a shopper call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .errors import ShareLinkNotFound, ShareLinkRevoked, StoreFrozen
from .models import Membership, ShareLink, Store, StoreStats

SHARE_TOKEN_BYTES = 24  # 192 bits: unguessable


def _new_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class StoreCreated:
    store: Store
    created: bool
    share_token: str


def store_create(
    *, owner, name: str, wechat_group_id: str | None = None, now: datetime | None = None
) -> StoreCreated:
    """A new store owned by ``owner``; if the chat group already has one, the caller
    joins that one instead (``created=False``)."""
    now = now or timezone.now()
    if wechat_group_id:
        existing = Store.objects.filter(wechat_group_id=wechat_group_id).first()
        if existing:
            return _join_group_store(store=existing, user=owner, now=now)
    try:
        with transaction.atomic():
            store = Store.objects.create(owner=owner, name=name, wechat_group_id=wechat_group_id or None)
            StoreStats.objects.create(store=store, members_count=1)
            Membership.objects.create(store=store, user=owner, role=Membership.Role.OWNER, joined_at=now)
            link = ShareLink.objects.create(store=store, token=_new_token(), created_by=owner)
    except IntegrityError:
        # Lost a race for the chat group: its store already exists; join it.
        existing = Store.objects.get(wechat_group_id=wechat_group_id)
        return _join_group_store(store=existing, user=owner, now=now)
    return StoreCreated(store=store, created=True, share_token=link.token)


def _join_group_store(*, store: Store, user, now: datetime) -> StoreCreated:
    membership_get_or_create(store=store, user=user, via=None, now=now)
    link = store.share_links.filter(is_revoked=False).order_by("pk").first()
    if link is None:
        link = share_link_create(store=store, created_by=user)
    return StoreCreated(store=store, created=False, share_token=link.token)


def share_link_create(*, store: Store, created_by, product_id: int | None = None) -> ShareLink:
    """A new unguessable share token. Members may share too; commission still goes to the owner."""
    if store.is_frozen:
        raise StoreFrozen()
    return ShareLink.objects.create(
        store=store, token=_new_token(), created_by=created_by, product_id=product_id
    )


def store_bind_group(*, store: Store, wechat_group_id: str) -> Store:
    """The chat group's store: ``store`` itself if this bind is the group's first,
    otherwise the store the group already has. Safe under concurrent first binds:
    the unique index on the group id admits one winner; losers read it."""
    bound = Store.objects.filter(wechat_group_id=wechat_group_id).first()
    if bound:
        return bound
    try:
        with transaction.atomic():
            updated = Store.objects.filter(pk=store.pk, wechat_group_id__isnull=True).update(
                wechat_group_id=wechat_group_id
            )
    except IntegrityError:
        return Store.objects.get(wechat_group_id=wechat_group_id)
    if updated:
        store.wechat_group_id = wechat_group_id
    # Not updated: this store is already bound to another group; the new group stays free.
    return store


def membership_get_or_create(
    *, store: Store, user, via: ShareLink | None, now: datetime
) -> tuple[Membership, bool]:
    """One membership per (store, user), however many times or how concurrently one joins."""
    membership = Membership.objects.filter(store=store, user=user).first()
    if membership:
        return membership, False
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                store=store, user=user, role=Membership.Role.MEMBER, joined_at=now, joined_via=via
            )
            StoreStats.objects.filter(store=store).update(members_count=F("members_count") + 1)
    except IntegrityError:
        return Membership.objects.get(store=store, user=user), False
    return membership, True


def store_join(
    *, user, share_token: str, wechat_group_id: str | None = None, now: datetime | None = None
) -> Membership:
    """Open a share link: become a member of its store (idempotent). With a chat group
    from a share ticket, the group's store is joined (binding it first if it has none)."""
    now = now or timezone.now()
    link = ShareLink.objects.select_related("store").filter(token=share_token).first()
    if link is None:
        raise ShareLinkNotFound()
    if link.is_revoked:
        raise ShareLinkRevoked()
    store = link.store
    if wechat_group_id:
        store = store_bind_group(store=store, wechat_group_id=wechat_group_id)
    if store.is_frozen:
        raise StoreFrozen()
    membership, _ = membership_get_or_create(
        store=store, user=user, via=link if store.pk == link.store_id else None, now=now
    )
    return membership


# --- Aggregates, pushed by orders and rebates in their own transactions -----------


def store_stats_record_payment(*, store_id: int, buyer_id: int, paid_fen: int, discount_fen: int) -> None:
    """An order through the store was paid: GMV, orders and the member's figures grow."""
    StoreStats.objects.filter(store_id=store_id).update(
        gmv_fen=F("gmv_fen") + paid_fen,
        net_paid_fen=F("net_paid_fen") + paid_fen,
        orders_count=F("orders_count") + 1,
    )
    Membership.objects.filter(store_id=store_id, user_id=buyer_id).update(
        paid_fen=F("paid_fen") + paid_fen,
        discount_fen=F("discount_fen") + discount_fen,
        saved_fen=F("saved_fen") + discount_fen,
        orders_count=F("orders_count") + 1,
    )


def store_stats_record_commission(
    *, store_id: int, pending_fen: int = 0, settled_fen: int = 0, clawed_back_fen: int = 0
) -> None:
    """Owner commission moved: deltas in fen (pending may shrink as it settles)."""
    StoreStats.objects.filter(store_id=store_id).update(
        commission_pending_fen=F("commission_pending_fen") + pending_fen,
        commission_settled_fen=F("commission_settled_fen") + settled_fen,
        commission_clawed_back_fen=F("commission_clawed_back_fen") + clawed_back_fen,
    )


def member_stats_record_rebate(
    *, store_id: int, user_id: int, rebate_fen: int = 0, envelope_fen: int = 0
) -> None:
    """A rebate settled (or was clawed back, negative) or an envelope was claimed."""
    Membership.objects.filter(store_id=store_id, user_id=user_id).update(
        rebate_fen=F("rebate_fen") + rebate_fen,
        envelope_fen=F("envelope_fen") + envelope_fen,
        saved_fen=F("saved_fen") + rebate_fen + envelope_fen,
    )


def chat_group_resolve(*, user, group: dict | None = None, wechat_group_id: str | None = None) -> str | None:
    """The chat group's ``openGId``, from WeChat's encrypted share-ticket data decrypted
    with the caller's session key (kept on the server). A clear-text id is accepted only
    in the sandbox: a client that could name any group could steal a group's store."""
    from django.conf import settings

    from .errors import ClearGroupIdNotAllowed

    if group:
        from accounts.wechat import decrypt_share_info

        return decrypt_share_info(
            session_key=user.session_key, encrypted_data=group["encrypted_data"], iv=group["iv"]
        )
    if wechat_group_id:
        if not settings.SANDBOX:
            raise ClearGroupIdNotAllowed()
        return wechat_group_id
    return None
