"""Orders' sub-ledgers reconciled with the ledger, for ``manage.py ledger_check``
(docs/design.md "Ledger"): each coupon campaign's reserve.

- ``coupon_campaign``/<id>: + the cap reserved at launch, − every coupon of the campaign
  that is ``used`` (paid for: its amount moved to the marketing budget; a coupon given
  back after a failed team moved it back and is no longer used), − what closing and the
  sweeper returned (``released_fen``). So: reserved − released − used coupons' amounts.
- The reserve must also cover what the campaign still promises: its locked coupons and its
  usable ones not yet expired; and ``issued_count`` must be the number of its coupons.

The marketing budget's side (allocations, reserves, releases and the used coupons'
transfers) is in rebates' platform check, which owns that account's expected balance.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.utils import timezone

from orders.models import Coupon, CouponCampaign
from shop.ledger.checks import register_check
from shop.ledger.models import Account
from shop.ledger.reconcile import account_balances, compare_owned

CAMPAIGNS_CHECK = "orders: coupon campaign reserves against their coupons"


def coupon_campaigns_check() -> list[str]:
    now = timezone.now()
    by_campaign = {
        row["campaign_id"]: row
        for row in Coupon.objects.filter(campaign__isnull=False)
        .order_by()
        .values("campaign_id")
        .annotate(
            used=Sum("amount_fen", filter=Q(status=Coupon.Status.USED), default=0),
            promised=Sum(
                "amount_fen",
                filter=Q(status=Coupon.Status.LOCKED) | Q(status=Coupon.Status.USABLE, expires_at__gt=now),
                default=0,
            ),
            count=Count("pk"),
        )
    }
    campaigns = list(CouponCampaign.objects.values_list("pk", "reserved_fen", "released_fen", "issued_count"))
    expected, detail, problems = {}, {}, []
    for pk, reserved, released, issued in campaigns:
        row = by_campaign.get(pk, {"used": 0, "promised": 0, "count": 0})
        expected[pk] = reserved - released - row["used"]
        detail[pk] = f"reserved {reserved}, released {released}, used coupons {row['used']}"
        if row["count"] != issued:
            problems.append(f"coupon campaign {pk}: issued_count {issued} but {row['count']} coupons")
    problems += compare_owned(
        kind=Account.Kind.COUPON_CAMPAIGN,
        owner_type=Account.OwnerType.COUPON_CAMPAIGN,
        expected=expected,
        describe=lambda pk: f"reserve of coupon campaign {pk}",
        detail=lambda pk: detail.get(pk, "no such campaign"),
    )
    balances = account_balances(
        kind=Account.Kind.COUPON_CAMPAIGN, owner_type=Account.OwnerType.COUPON_CAMPAIGN
    )
    for pk, row in sorted(by_campaign.items()):
        held = balances.get(pk, (None, 0))[1]
        if held < row["promised"]:
            problems.append(
                f"reserve of coupon campaign {pk} holds {held} fen but its coupons still promise "
                f"{row['promised']} fen, short by {row['promised'] - held} fen"
            )
    return problems


def register_checks() -> None:
    register_check(name=CAMPAIGNS_CHECK, run=coupon_campaigns_check)
