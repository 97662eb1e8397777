"""Flash offers as merchants propose them and ops decide them (issue 14).

A merchant's staff propose an offer on one of the merchant's own SKUs — price, units,
per-buyer limit, window — and it waits for review (``pending_review``). Ops approve or
reject it in admin; a rejection carries a reason, and either way the merchant's staff are
notified. Only approved offers are ever live: checkout's one read (``orders.sql``) and the
product page (``orders.selectors.flash_prices_for_member``) filter on the status, so a
proposal costs the hot path nothing. The gate and the sold-out mark (``flash.py``) are
untouched: a newly approved offer is seeded into the gate lazily by its first buyer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from merchants.roles import FLASH, staff_require_role
from merchants.services.onboarding import notify_staff
from orders.errors import FlashOfferNotReviewable, FlashOfferOverlaps
from orders.locks import flash_offer_qs_for_update
from orders.models import FlashOffer
from products.models import Sku
from products.selectors import sku_get_for_merchant
from shop.errors import ValidationFailed
from shop.money import fen_display

# A flash sale is short and announced ahead, not a standing discount: its window lasts at
# most a week and opens within 30 days of the proposal.
MAX_WINDOW = timedelta(days=7)
MAX_LEAD = timedelta(days=30)
UNITS_MAX = 1_000_000


def flash_offer_propose(
    *,
    merchant_id: int,
    proposer,
    sku_id: int,
    flash_price_fen: int,
    units: int,
    per_buyer_limit: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime | None = None,
) -> FlashOffer:
    """A merchant's proposal, waiting for ops (``pending_review``). Another merchant's SKU
    (or none) is 404; broken terms are 400 with every field's reason; an offer of the same SKU
    waiting or approved in an overlapping window is 409 (one SKU has one flash price at a time).

    Terms: 0 < price < the SKU's price; 1 <= units <= units available now (on hand − reserved);
    1 <= per-buyer limit <= units; the window opens in the future (within ``MAX_LEAD``), ends
    after it opens and lasts at most ``MAX_WINDOW``."""
    staff_require_role(user=proposer, merchant_id=merchant_id, area=FLASH)
    now = now or timezone.now()
    sku = sku_get_for_merchant(merchant_id=merchant_id, sku_id=sku_id)
    problems: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if not 0 < flash_price_fen < sku.price_fen:
        bad("flash_price_fen", f"Must be above 0 and below the SKU's price ({sku.price_fen} fen).")
    available = sku.on_hand - sku.reserved
    if not 1 <= units <= min(available, UNITS_MAX):
        bad("units", f"Must be between 1 and the units available now ({max(available, 0)}).")
    if not 1 <= per_buyer_limit <= max(units, 1):
        bad("per_buyer_limit", "Must be at least 1 and at most the units on offer.")
    if starts_at <= now:
        bad("starts_at", "Must be in the future.")
    elif starts_at > now + MAX_LEAD:
        bad("starts_at", f"Must be within {MAX_LEAD.days} days from now.")
    if ends_at <= starts_at:
        bad("ends_at", "Must be after starts_at.")
    elif ends_at - starts_at > MAX_WINDOW:
        bad("ends_at", f"A flash sale lasts at most {MAX_WINDOW.days} days.")
    if problems:
        raise ValidationFailed(fields=problems)
    with transaction.atomic():
        # Two proposals of one SKU at once: the SKU's row serialises them (no key update).
        _lock_sku(sku.pk)
        if _overlapping(sku_id=sku.pk, starts_at=starts_at, ends_at=ends_at).exists():
            raise FlashOfferOverlaps()
        return FlashOffer.objects.create(
            sku=sku,
            status=FlashOffer.Status.PENDING_REVIEW,
            proposed_by=proposer,
            flash_price_fen=flash_price_fen,
            quantity=units,
            per_user_limit=per_buyer_limit,
            starts_at=starts_at,
            ends_at=ends_at,
        )


def _overlapping(*, sku_id: int, starts_at: datetime, ends_at: datetime, exclude_id: int | None = None):
    offers = FlashOffer.objects.filter(
        sku_id=sku_id,
        status__in=(FlashOffer.Status.PENDING_REVIEW, FlashOffer.Status.APPROVED),
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    return offers.exclude(pk=exclude_id) if exclude_id is not None else offers


def flash_offer_overlaps(
    *, sku_id: int, starts_at: datetime, ends_at: datetime, exclude_id: int | None
) -> bool:
    """Whether another waiting or approved offer of the SKU overlaps this window (admin's
    form asks first, for a friendly error; the saving service asks again under the lock)."""
    return _overlapping(sku_id=sku_id, starts_at=starts_at, ends_at=ends_at, exclude_id=exclude_id).exists()


def _lock_sku(sku_id: int) -> None:
    # Everything that decides "one flash price at a time" for a SKU queues on its row (no key
    # update, so checkouts' stock updates are not blocked).
    Sku.objects.select_for_update(no_key=True).filter(pk=sku_id).first()


# What ops edit in admin (the rest — status, units sold, the review — is never written back
# from a form loaded seconds ago).
OPS_EDITABLE = ("sku", "flash_price_fen", "starts_at", "ends_at", "quantity", "per_user_limit")


@transaction.atomic
def flash_offer_ops_save(*, offer: FlashOffer, reviewer, now: datetime | None = None) -> FlashOffer:
    """Ops add or edit an offer in admin. One they add is approved at once (no review). Either
    way its window may not overlap another waiting or approved offer of the SKU (409), checked
    under the SKU's lock so that an approval or a proposal at the same moment cannot slip by.

    An edit locks the offer first (checkout's order: the offer, then the SKU), checks the new
    cap against the units sold as they are now (a sale may be running), and writes the edited
    terms only: units sold, status and review stay as checkouts and reviewers left them."""
    if offer.pk is not None:
        current = flash_offer_qs_for_update().get(pk=offer.pk)
        if offer.quantity < current.sold_count:
            raise ValidationFailed(
                fields={
                    "quantity": [f"{current.sold_count} units are already sold; the cap cannot go lower."]
                }
            )
    _lock_sku(offer.sku_id)
    if flash_offer_overlaps(
        sku_id=offer.sku_id, starts_at=offer.starts_at, ends_at=offer.ends_at, exclude_id=offer.pk
    ):
        raise FlashOfferOverlaps()
    if offer.pk is None:
        offer.status = FlashOffer.Status.APPROVED
        offer.reviewed_by, offer.reviewed_at = reviewer, now or timezone.now()
        offer.save()
        return offer
    offer.save(update_fields=[*OPS_EDITABLE, "updated_at"])
    offer.refresh_from_db()
    return offer


@transaction.atomic
def flash_offer_review(
    *, offer_id: int, approve: bool, reviewer, reason: str = "", now: datetime | None = None
) -> FlashOffer:
    """Ops decide a proposal: approved, it is live from its start (for members of unlocked
    stores); rejected, it never is, and the merchant sees the reason. The merchant's staff
    are notified either way. Repeating the decision is a no-op; changing a decided one, or
    approving an offer whose window has ended, whose price is no longer below the SKU's or
    whose window overlaps another approved offer of the SKU, is 409; a rejection without a
    reason is 400."""
    now = now or timezone.now()
    reason = reason.strip()
    if not approve and not reason:
        raise ValidationFailed(fields={"reason": ["Say why the offer is rejected; the merchant sees it."]})
    offer = flash_offer_qs_for_update().select_related("sku__product").get(pk=offer_id)
    target = FlashOffer.Status.APPROVED if approve else FlashOffer.Status.REJECTED
    if offer.status == target:
        return offer
    if offer.status != FlashOffer.Status.PENDING_REVIEW:
        raise FlashOfferNotReviewable()
    if approve:
        if offer.ends_at <= now:
            raise FlashOfferNotReviewable("The offer's window has already ended; it cannot go live.")
        if offer.flash_price_fen >= offer.sku.price_fen:
            raise FlashOfferNotReviewable("The SKU's price has since dropped to or below the flash price.")
        _lock_sku(offer.sku_id)  # two overlapping proposals approved at once: one wins
        approved = _overlapping(
            sku_id=offer.sku_id, starts_at=offer.starts_at, ends_at=offer.ends_at, exclude_id=offer.pk
        ).filter(status=FlashOffer.Status.APPROVED)
        if approved.exists():  # e.g. one ops added in admin meanwhile: one flash price at a time
            raise FlashOfferOverlaps("Another approved offer of this SKU overlaps this one's window.")
    offer.status = target
    offer.rejection_reason = "" if approve else reason[:255]
    offer.reviewed_by = reviewer
    offer.reviewed_at = now
    offer.save(update_fields=["status", "rejection_reason", "reviewed_by", "reviewed_at", "updated_at"])
    title = offer.sku.product.title
    notify_staff(
        merchant_id=offer.sku.merchant_id,
        kind="flash_offer_reviewed",
        title=f"Flash offer approved: {title}" if approve else f"Flash offer not approved: {title}",
        body=(
            f"{fen_display(offer.flash_price_fen)} × {offer.quantity} from "
            f"{timezone.localtime(offer.starts_at):%Y-%m-%d %H:%M}"
            if approve
            else offer.rejection_reason
        ),
        data={"flash_offer_id": offer.pk, "sku_id": offer.sku_id, "status": offer.status},
        dedupe=f"flash-offer-review:{offer.pk}",
    )
    return offer
