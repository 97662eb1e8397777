"""Group stores: creation, chat-group binding, share links, joining, and the aggregates.

Ownership rules (docs/design.md "Group store — share-link ownership"): a chat group has at
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

from shop.notifications.services import notification_send

from ..errors import ShareLinkNotFound, ShareLinkRevoked, StoreFrozen, StoreNotFound
from ..locks import store_qs_for_update
from ..models import Leader, Membership, ShareLink, Store, StoreStats

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
    # A certified leader's stores are sale venues (docs/design.md, Goose Share Group).
    is_venue = Leader.objects.filter(user=owner, status=Leader.Status.CERTIFIED).exists()
    try:
        with transaction.atomic():
            store = Store.objects.create(
                owner=owner, name=name, wechat_group_id=wechat_group_id or None, is_venue=is_venue
            )
            StoreStats.objects.create(store=store, members_count=1)
            Membership.objects.create(store=store, user=owner, role=Membership.Role.OWNER, joined_at=now)
            link = ShareLink.objects.create(store=store, token=_new_token(), created_by=owner)
    except IntegrityError:
        # Lost a race for the chat group: its store already exists; join it.
        existing = Store.objects.get(wechat_group_id=wechat_group_id)
        return _join_group_store(store=existing, user=owner, now=now)
    return StoreCreated(store=store, created=True, share_token=link.token)


def _join_group_store(*, store: Store, user, now: datetime) -> StoreCreated:
    if store.is_frozen:
        raise StoreFrozen()  # the chat group's store is frozen: no joins, and no second store
    membership_get_or_create(store=store, user=user, via=None, now=now)
    link = store.share_links.filter(is_revoked=False).order_by("pk").first()
    if link is None:
        link = share_link_create(store=store, created_by=user)
    return StoreCreated(store=store, created=False, share_token=link.token)


def share_link_create(*, store: Store, created_by, product_id: int | None = None) -> ShareLink:
    """A new unguessable share token. Members may share too; commission still goes to the owner."""
    if Store.objects.filter(pk=store.pk, is_frozen=True).exists():  # as of now, not as loaded
        raise StoreFrozen()
    return ShareLink.objects.create(
        store=store, token=_new_token(), created_by=created_by, product_id=product_id
    )


def share_link_revoke(*, link_id: int) -> bool:
    """Withdraw a share link (ops, e.g. a link spammed into strangers' groups): opening it
    answers 410 from now on; members who joined through it stay members. Returns
    whether it was live."""
    return bool(ShareLink.objects.filter(pk=link_id, is_revoked=False).update(is_revoked=True))


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
    if store.is_frozen:
        raise StoreFrozen()  # before binding: a frozen store never takes a chat group
    if wechat_group_id:
        store = store_bind_group(store=store, wechat_group_id=wechat_group_id)
    if store.is_frozen:
        raise StoreFrozen()
    membership, _ = membership_get_or_create(
        store=store, user=user, via=link if store.pk == link.store_id else None, now=now
    )
    return membership


def chat_group_resolve(*, user, group: dict | None = None, wechat_group_id: str | None = None) -> str | None:
    """The chat group's ``openGId``, from WeChat's encrypted share-ticket data decrypted
    with the caller's session key (kept on the server). A clear-text id is accepted only
    in the sandbox: a client that could name any group could steal a group's store."""
    from django.conf import settings

    from ..errors import ClearGroupIdNotAllowed

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


# --- Ops: freezing -----------------------------------------------------------------


def store_freeze(*, store_id: int, actor=None, reason: str = "", now: datetime | None = None) -> Store:
    """Ops freeze a store: no new joins (410), no new orders through it (checkout
    refuses), no owner commission on what is paid from now on (accrual gives the owner
    share to the platform), no new share links. Freezing twice is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        store = store_qs_for_update().filter(pk=store_id).first()
        if store is None:
            raise StoreNotFound()
        if store.is_frozen:
            return store
        store.is_frozen, store.frozen_at, store.frozen_reason = True, now, reason[:200]
        store.save(update_fields=["is_frozen", "frozen_at", "frozen_reason", "updated_at"])
        notification_send(
            recipient_id=store.owner_id,
            kind="store_frozen",
            title=f"Your store {store.name} has been frozen",
            body=reason or "The platform froze this store. Contact support to appeal.",
            data={"store_id": store.pk},
            dedupe_key=f"store-frozen:{store.pk}:{now.isoformat()}",
        )
    return store


def store_unfreeze(*, store_id: int, actor=None, now: datetime | None = None) -> Store:
    """Ops lift a freeze: joins, orders and commission resume for what happens next
    (nothing accrued while frozen is paid back). Unfreezing twice is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        store = store_qs_for_update().filter(pk=store_id).first()
        if store is None:
            raise StoreNotFound()
        if not store.is_frozen:
            return store
        store.is_frozen, store.frozen_at, store.frozen_reason = False, None, ""
        store.save(update_fields=["is_frozen", "frozen_at", "frozen_reason", "updated_at"])
        notification_send(
            recipient_id=store.owner_id,
            kind="store_unfrozen",
            title=f"Your store {store.name} is open again",
            data={"store_id": store.pk},
            dedupe_key=f"store-unfrozen:{store.pk}:{now.isoformat()}",
        )
    return store
