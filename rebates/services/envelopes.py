"""Red envelopes (docs/design.md "Rebates, commission and red envelopes").

Funding happens inside settlement (``envelopes_fund_for_orders``, called by
``orders_settle``): one envelope per completed order in a store that is not frozen (the
order is unique on the envelope), from the configured part of the order's platform
remainder, or from an active campaign covering the store while its budget lasts. The
money sits in one ledger pool account per store (``red_envelope_pool``/``store``/<id>);
each envelope's ``remaining_fen`` is its part of that pool, and ``ledger_check`` checks
that a pool holds exactly the sum of its store's open envelopes (``envelope_pools_check``).
One account per store instead of one per envelope: settling an order creates no account,
and its funding is a line of the order's own settlement transaction.

Claims draw each amount at claim time under a lock on the envelope row, by the corrected
double-mean rule, so every share is at least 1 fen and the shares sum exactly to the
total; only members who joined before funding may claim, each once (unique claim row).
Unclaimed money goes back to its source once the envelope expires (a sweeper).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from groupstore.models import Membership
from groupstore.services import member_stats_record_rebate
from rebates.errors import EnvelopeAlreadyClaimed, EnvelopeEmpty, EnvelopeExpired, EnvelopeNotEligible
from rebates.models import RedEnvelope, RedEnvelopeCampaign, RedEnvelopeClaim
from shop.db import rows_insert
from shop.errors import NotFound
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post
from shop.money import fen_share

EXPIRY_BATCH = 200


def store_envelope_pool(store_id: int) -> AccountRef:
    """The ledger account holding what is unclaimed of a store's red envelopes."""
    return AccountRef(Account.Kind.RED_ENVELOPE_POOL, Account.OwnerType.STORE, store_id)


def envelope_source_account(envelope: RedEnvelope) -> AccountRef:
    """Where unclaimed money goes back to: the platform's revenue or the marketing budget."""
    return _source_account(envelope.source)


def _source_account(source: str) -> AccountRef:
    if source == RedEnvelope.Source.CAMPAIGN:
        return AccountRef.platform(Account.Kind.MARKETING_BUDGET)
    return AccountRef.platform(Account.Kind.PLATFORM_REVENUE)


def envelope_draw(*, remaining_fen: int, shares_left: int, randbelow=secrets.randbelow) -> int:
    """One claim's amount: uniform in [1, min(⌊2R/n⌋, R − (n − 1))]; the last share takes R.

    The upper bound leaves at least 1 fen for each of the n − 1 shares after this one,
    so no share is ever below 1 fen and the shares sum exactly to the total.
    """
    if shares_left < 1 or remaining_fen < shares_left:
        raise ValueError(f"cannot draw {shares_left} shares of at least 1 fen from {remaining_fen} fen")
    if shares_left == 1:
        return remaining_fen
    upper = min(2 * remaining_fen // shares_left, remaining_fen - (shares_left - 1))
    return 1 + randbelow(upper)


# --- Funding, inside settlement -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeFunding:
    """What settlement needs to post: how many envelopes were made, and for each order the
    ledger lines that fund its envelope (source → the store's pool), which settlement adds
    to the order's own settlement transaction."""

    count: int
    lines_by_order: dict[int, list[tuple[AccountRef, int]]]


# Every column of a new envelope (rows_insert sets no defaults).
_ENVELOPE_COLUMNS = (
    "created_at",
    "updated_at",
    "store_id",
    "order_id",
    "source",
    "campaign_id",
    "total_fen",
    "shares",
    "remaining_fen",
    "remaining_shares",
    "status",
    "funded_at",
    "expires_at",
    "returned_fen",
)


def _active_campaigns(now: datetime) -> list[tuple[RedEnvelopeCampaign, set[int]]]:
    campaigns = RedEnvelopeCampaign.objects.filter(
        is_active=True,
        starts_at__lte=now,
        ends_at__gt=now,
        spent_fen__lte=F("budget_fen") - F("envelope_fen"),
    ).order_by("pk")
    return [(c, set(c.stores.values_list("pk", flat=True))) for c in campaigns]


def _campaign_take(campaigns: list[tuple[RedEnvelopeCampaign, set[int]]], store_id: int):
    """Spend one envelope of the first campaign covering the store that still has room
    (a conditional update, so concurrent batches can never overspend a budget)."""
    for campaign, store_ids in campaigns:
        if store_ids and store_id not in store_ids:
            continue
        taken = RedEnvelopeCampaign.objects.filter(
            pk=campaign.pk, spent_fen__lte=F("budget_fen") - campaign.envelope_fen
        ).update(spent_fen=F("spent_fen") + campaign.envelope_fen)
        if taken:
            return campaign
    return None


def envelopes_fund_for_orders(
    *, orders: list, platform_fen: dict[int, int], now: datetime
) -> EnvelopeFunding:
    """Make the envelopes of these settling orders (in settlement's transaction).

    ``orders`` are settlement's ``SettlingOrder`` rows (``pk``, ``store_id``,
    ``store_is_frozen``); ``platform_fen`` is each order's platform remainder being
    settled now. Orders in a frozen store fund nothing. An order that already has an
    envelope is skipped, so a re-run funds nothing twice (the unique order on the
    envelope is the backstop).
    """
    rules = settings.SHOP_RULES
    ttl = rules["ENVELOPE_TTL"]
    done = set(
        RedEnvelope.objects.filter(order_id__in=[o.pk for o in orders]).values_list("order_id", flat=True)
    )
    campaigns = _active_campaigns(now)
    rows: list[tuple] = []
    lines_by_order: dict[int, list[tuple[AccountRef, int]]] = {}
    for order in orders:
        if order.pk in done or order.store_is_frozen:
            continue
        campaign = _campaign_take(campaigns, order.store_id) if campaigns else None
        if campaign is not None:
            total, shares, source = campaign.envelope_fen, campaign.shares, RedEnvelope.Source.CAMPAIGN
        else:
            total = fen_share(platform_fen.get(order.pk, 0), rules["ENVELOPE_PLATFORM_SHARE_BPS"])
            shares, source = rules["ENVELOPE_SHARES"], RedEnvelope.Source.ORDER
            if total < 1:
                continue
        shares = min(shares, total)  # K = min(configured shares, total fen)
        rows.append(
            (
                now,
                now,
                order.store_id,
                order.pk,
                source,
                campaign.pk if campaign else None,
                total,
                shares,
                total,
                shares,
                RedEnvelope.Status.OPEN,
                now,
                now + ttl,
                0,
            )
        )
        lines_by_order[order.pk] = [
            (_source_account(source), -total),
            (store_envelope_pool(order.store_id), total),
        ]
    rows_insert(model=RedEnvelope, fields=_ENVELOPE_COLUMNS, rows=rows)
    return EnvelopeFunding(count=len(rows), lines_by_order=lines_by_order)


# --- Claims ------------------------------------------------------------------------------


def red_envelope_claim(*, envelope_id: int, user, now: datetime | None = None) -> RedEnvelopeClaim:
    """Claim one share: lock the envelope row, then decide; draw; credit the wallet.

    404 for an envelope of a store the user does not belong to; 403 for a member who
    joined after funding; 409 when already claimed, none left or expired. A refusal
    writes nothing. Exactly ``shares`` claims succeed under any concurrency, summing to
    the total.
    """
    now = now or timezone.now()
    with transaction.atomic():
        envelope = (
            RedEnvelope.objects.select_for_update(no_key=True, of=("self",)).filter(pk=envelope_id).first()
        )
        membership = (
            Membership.objects.filter(store_id=envelope.store_id, user=user).first() if envelope else None
        )
        if envelope is None or membership is None:
            raise NotFound("No such red envelope.", envelope_id=envelope_id)
        if membership.joined_at >= envelope.funded_at:
            raise EnvelopeNotEligible()
        if RedEnvelopeClaim.objects.filter(envelope=envelope, user=user).exists():
            raise EnvelopeAlreadyClaimed()
        if envelope.status == RedEnvelope.Status.EXPIRED or now >= envelope.expires_at:
            raise EnvelopeExpired()
        if envelope.remaining_shares == 0:
            raise EnvelopeEmpty()

        amount = envelope_draw(remaining_fen=envelope.remaining_fen, shares_left=envelope.remaining_shares)
        try:
            with transaction.atomic():
                claim = RedEnvelopeClaim.objects.create(
                    envelope=envelope, user=user, amount_fen=amount, claimed_at=now
                )
        except IntegrityError:  # the unique row: cannot happen under the lock, but it is the backstop
            raise EnvelopeAlreadyClaimed() from None
        envelope.remaining_fen -= amount
        envelope.remaining_shares -= 1
        if envelope.remaining_shares == 0:
            envelope.status = RedEnvelope.Status.EMPTY
        envelope.save(update_fields=["remaining_fen", "remaining_shares", "status", "updated_at"])
        # Lock order as settlement: member figures before ledger accounts.
        member_stats_record_rebate(store_id=envelope.store_id, user_id=user.pk, envelope_fen=amount)
        ledger_post(
            key=f"envelope-claim:{claim.pk}",
            kind="envelope_claimed",
            lines=[
                (store_envelope_pool(envelope.store_id), -amount),
                (AccountRef.user(Account.Kind.USER_AVAILABLE, user.pk), amount),
            ],
            memo=f"Red envelope #{envelope.pk}",
            ref_type="red_envelope",
            ref_id=envelope.pk,
        )
    return claim


# --- Expiry ------------------------------------------------------------------------------


def red_envelope_expire(*, envelope_id: int, now: datetime | None = None) -> RedEnvelope:
    """Return what is unclaimed of an expired envelope to its source. Idempotent: an
    envelope already expired (or not yet due) is left as it is."""
    now = now or timezone.now()
    with transaction.atomic():
        envelope = RedEnvelope.objects.select_for_update(no_key=True, of=("self",)).get(pk=envelope_id)
        if envelope.status == RedEnvelope.Status.EXPIRED or now < envelope.expires_at:
            return envelope
        rest = envelope.remaining_fen
        ledger_post(
            key=f"envelope:{envelope.pk}:return",
            kind="envelope_returned",
            lines=[
                (store_envelope_pool(envelope.store_id), -rest),
                (envelope_source_account(envelope), rest),
            ],
            memo=f"Unclaimed rest of red envelope #{envelope.pk}",
            ref_type="red_envelope",
            ref_id=envelope.pk,
        )
        envelope.status = RedEnvelope.Status.EXPIRED
        envelope.returned_fen = rest
        envelope.remaining_fen = 0
        envelope.remaining_shares = 0
        envelope.save(
            update_fields=["status", "returned_fen", "remaining_fen", "remaining_shares", "updated_at"]
        )
    return envelope


def red_envelopes_expire_due(now: datetime) -> int:
    """Sweeper: expire every open envelope past its time (an empty one holds nothing)."""
    due = (
        RedEnvelope.objects.filter(expires_at__lte=now, status=RedEnvelope.Status.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)[:EXPIRY_BATCH]
    )
    ids = list(due)
    for envelope_id in ids:
        red_envelope_expire(envelope_id=envelope_id, now=now)
    return len(ids)


# --- The books ----------------------------------------------------------------------------


def envelope_pools_check() -> list[str]:
    """``ledger_check``'s check: every store's pool holds exactly the sum of its open
    envelopes' ``remaining_fen`` (empty and expired ones hold nothing), and no other
    envelope pool (the per-envelope accounts of before 2026-12) holds anything."""
    open_fen = dict(
        RedEnvelope.objects.filter(status=RedEnvelope.Status.OPEN)
        .values("store_id")
        .annotate(fen=Sum("remaining_fen"))
        .values_list("store_id", "fen")
    )
    pools = Account.objects.filter(kind=Account.Kind.RED_ENVELOPE_POOL).values_list(
        "owner_type", "owner_id", "balance_fen"
    )
    problems = []
    pooled: dict[int, int] = {}
    for owner_type, owner_id, balance in pools:
        if owner_type == Account.OwnerType.STORE:
            pooled[owner_id] = balance
        elif balance:
            problems.append(f"envelope pool of {owner_type} {owner_id} still holds {balance} fen")
    for store_id in sorted(open_fen.keys() | pooled.keys()):
        held, owed = pooled.get(store_id, 0), open_fen.get(store_id, 0)
        if held != owed:
            problems.append(
                f"store {store_id}'s envelope pool holds {held} fen, its open envelopes {owed} fen, "
                f"difference {held - owed:+d} fen"
            )
    return problems
