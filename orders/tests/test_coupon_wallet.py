"""The coupon wallet (issue 14 step 1): statuses, redeeming codes, ops campaigns drawn from
the marketing budget in the ledger, locks given back on cancel / time-out / a failed team
but never on a refund, and the share reward's notice naming its coupon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import ShareReward
from groupstore.tests.factories import make_store
from orders.checks import coupon_campaigns_check
from orders.errors import (
    CouponCampaignExhausted,
    CouponCodeAlreadyRedeemed,
    CouponCodeNotFound,
    CouponNotUsable,
    MarketingBudgetShort,
)
from orders.models import Coupon, CouponCampaign, Order, Team
from orders.services.coupons import (
    EXPIRY_GRACE,
    campaign_reserve,
    coupon_campaign_close,
    coupon_campaign_issue_batch,
    coupon_campaign_launch,
    coupon_campaign_release,
    coupon_campaigns_sweep,
    coupon_issue_for_share_reward,
    coupon_redeem,
    coupon_use,
    coupon_void,
    marketing_budget_allocate,
)
from orders.services.lifecycle import order_cancel
from orders.services.refunds import order_refund_full
from orders.services.sweepers import orders_cancel_unpaid, teams_expire_due
from products.tests.factories import SkuFactory
from shop.ledger.checks import registered_checks
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.notifications.models import Notification
from shop.payments.tests.helpers import make_payment
from shop.testing.asserts import assert_error

from .helpers import buy, buy_paid, coupon, team_sku

pytestmark = pytest.mark.django_db

BUDGET = AccountRef.platform(Account.Kind.MARKETING_BUDGET)
REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)


def books_problems() -> list[str]:
    return [f"{name}: {p}" for name, check in registered_checks() for p in check()]


def campaign(*, audience="code", cap_fen=1_000, amount_fen=500, launch=True, **kw) -> CouponCampaign:
    now = timezone.now()
    c = CouponCampaign.objects.create(
        title=kw.pop("title", "新人立减"),
        audience=audience,
        code=kw.pop("code", "HELLO14" if audience == "code" else None),
        amount_fen=amount_fen,
        min_spend_fen=kw.pop("min_spend_fen", 0),
        valid_days=kw.pop("valid_days", 7),
        starts_at=kw.pop("starts_at", now - timedelta(minutes=1)),
        ends_at=kw.pop("ends_at", now + timedelta(days=3)),
        cap_fen=cap_fen,
        **kw,
    )
    if launch:
        coupon_campaign_launch(campaign_id=c.pk)
        c.refresh_from_db()
    return c


@pytest.fixture
def budget():
    """¥100 allocated to the marketing budget from platform revenue."""
    marketing_budget_allocate(amount_fen=10_000, note="test")
    return 10_000


# --- GET /coupons ----------------------------------------------------------------------------


def test_the_wallet_lists_my_coupons_by_status_in_the_shoppers_words(make_client):
    store, _, (me, other) = make_store(members=2)
    now = timezone.now()
    usable = coupon(user=me, amount_fen=300, title="分享奖励券", source=Coupon.Source.SHARE_REWARD)
    soon = coupon(user=me, amount_fen=100, expires_at=now + timedelta(hours=1))
    past = coupon(user=me, amount_fen=200, expires_at=now - timedelta(seconds=1))
    withdrawn = coupon(user=me, amount_fen=400)
    coupon_void(coupon_id=withdrawn.pk)
    locked = coupon(user=me, amount_fen=500)
    buy(buyer=me, store=store, sku=SkuFactory(price_fen=2_000), coupon_id=locked.pk)
    used = coupon(user=me, amount_fen=600)
    buy_paid(buyer=me, store=store, sku=SkuFactory(price_fen=2_000), coupon_id=used.pk)
    coupon(user=other, amount_fen=700)
    client = make_client(me)

    def ids(query: str = "") -> list[int]:
        response = client.get(f"/api/v1/coupons{query}")
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()["results"]]

    assert ids() == [soon.pk, usable.pk]  # default: usable, soonest to expire first
    assert ids("?status=usable") == [soon.pk, usable.pk]
    assert ids("?status=locked") == [locked.pk]
    assert ids("?status=used") == [used.pk]
    assert set(ids("?status=expired")) == {past.pk, withdrawn.pk}
    assert_error(client.get("/api/v1/coupons?status=available"), 400)
    body = client.get("/api/v1/coupons").json()["results"][1]
    assert body == {
        "id": usable.pk,
        "title": "分享奖励券",
        "amount_fen": 300,
        "min_spend_fen": 0,
        "status": "usable",
        "source": "share_reward",
        "valid_from": body["valid_from"],
        "expires_at": body["expires_at"],
    }
    expired = client.get("/api/v1/coupons?status=expired").json()["results"]
    assert {c["status"] for c in expired} == {"expired"}
    assert {c["source"] for c in expired} == {"campaign"}
    assert make_client(other).get("/api/v1/coupons").json()["count"] == 1


def test_a_coupon_not_yet_valid_cannot_be_used():
    store, _, (me,) = make_store(members=1)
    later = coupon(user=me, amount_fen=100, valid_from=timezone.now() + timedelta(hours=1))
    with pytest.raises(CouponNotUsable):
        buy(buyer=me, store=store, sku=SkuFactory(price_fen=1_000), coupon_id=later.pk)


# --- Locked, used, given back ----------------------------------------------------------------


def test_locked_by_an_unpaid_order_used_when_paid_and_back_on_cancel_or_time_out():
    store, _, (me,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_000)
    c = coupon(user=me, amount_fen=100)
    first = buy(buyer=me, store=store, sku=sku, coupon_id=c.pk).orders[0]
    c.refresh_from_db()
    assert (c.status, c.payment_id) == ("locked", first.payment_id)
    with pytest.raises(CouponNotUsable):  # locked: a second checkout cannot take it
        buy(buyer=me, store=store, sku=sku, coupon_id=c.pk)

    order_cancel(order_id=first.pk, actor=me)  # cancelled: usable again
    c.refresh_from_db()
    assert (c.status, c.payment_id) == ("usable", None)

    second = buy(buyer=me, store=store, sku=sku, coupon_id=c.pk).orders[0]
    orders_cancel_unpaid(timezone.now() + timedelta(days=1))  # timed out: usable again
    second.refresh_from_db()
    c.refresh_from_db()
    assert (second.status, c.status) == ("cancelled", "usable")

    paid = buy_paid(buyer=me, store=store, sku=sku, coupon_id=c.pk)
    c.refresh_from_db()
    assert (c.status, c.payment_id, paid.coupon_fen) == ("used", paid.payment_id, 100)


def test_a_refund_never_gives_the_coupon_back():
    store, _, (me,) = make_store(members=1)
    c = coupon(user=me, amount_fen=100)
    order = buy_paid(buyer=me, store=store, sku=SkuFactory(price_fen=1_000), coupon_id=c.pk)

    order_refund_full(order_id=order.pk, reason="ops ruling", by_ops=True)

    order.refresh_from_db()
    c.refresh_from_db()
    assert (order.status, c.status, c.payment_id) == ("refunded", "used", order.payment_id)


def test_a_failed_team_gives_its_coupon_back_and_the_campaign_its_money(budget):
    store, _, (me,) = make_store(members=1)
    c_campaign = campaign(audience="code")
    c = coupon_redeem(user=me, code="hello14")
    now = timezone.now()
    order = buy_paid(buyer=me, store=store, sku=team_sku(), team={"open": True}, coupon_id=c.pk, now=now)
    c.refresh_from_db()
    assert (c.status, order.status) == ("used", "awaiting_team")
    reserve = campaign_reserve(c_campaign.pk)
    assert account_balance(ref=reserve) == 1_000 - 500

    teams_expire_due(now + timedelta(days=2))

    order.refresh_from_db()
    c.refresh_from_db()
    assert Team.objects.get().status == "failed"
    assert (order.status, c.status, c.payment_id) == ("refunded", "usable", None)
    assert account_balance(ref=reserve) == 1_000
    assert books_problems() == []
    again = buy(buyer=me, store=store, sku=team_sku(), coupon_id=c.pk).orders[0]
    assert again.coupon_fen == 500


def test_a_give_back_missed_after_a_failed_team_is_made_on_the_next_run():
    store, _, (me,) = make_store(members=1)
    c = coupon(user=me, amount_fen=300)
    now = timezone.now()
    order = buy_paid(buyer=me, store=store, sku=team_sku(), team={"open": True}, coupon_id=c.pk, now=now)
    later = now + timedelta(days=2)
    Team.objects.update(status="failed", failed_at=later)
    order_refund_full(order_id=order.pk, reason="team_failed", now=later)  # and then a crash
    c.refresh_from_db()
    assert c.status == "used"

    teams_expire_due(later)

    c.refresh_from_db()
    assert (c.status, c.payment_id) == ("usable", None)


# --- Campaigns and the marketing budget ------------------------------------------------------


def test_a_campaign_is_refused_when_the_budget_is_short_and_reserves_its_cap_otherwise():
    short = campaign(cap_fen=5_000, launch=False)
    with pytest.raises(MarketingBudgetShort):
        coupon_campaign_launch(campaign_id=short.pk)
    short.refresh_from_db()
    assert (short.status, short.reserved_fen, account_balance(ref=BUDGET)) == ("draft", 0, 0)

    marketing_budget_allocate(amount_fen=6_000, note="December")
    coupon_campaign_launch(campaign_id=short.pk)

    short.refresh_from_db()
    assert (short.status, short.reserved_fen) == ("active", 5_000)
    assert account_balance(ref=BUDGET) == 1_000
    assert account_balance(ref=campaign_reserve(short.pk)) == 5_000
    assert account_balance(ref=REVENUE) == -6_000
    second = campaign(code="MORE", cap_fen=1_500, launch=False)
    with pytest.raises(MarketingBudgetShort):  # 1,000 left: the budget never goes below zero
        coupon_campaign_launch(campaign_id=second.pk)
    assert books_problems() == []


def test_codes_are_redeemed_once_per_person_while_the_cap_lasts(budget, make_client):
    c_campaign = campaign(cap_fen=1_200, amount_fen=500)  # room for two coupons
    a, b, c = UserFactory(), UserFactory(), UserFactory()

    response = make_client(a).post("/api/v1/coupons/redeem", {"code": " hello14 "}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source"], body["title"], body["amount_fen"]) == (
        "usable",
        "campaign",
        "新人立减",
        500,
    )
    assert_error(
        make_client(a).post("/api/v1/coupons/redeem", {"code": "HELLO14"}, format="json"),
        409,
        "coupon_already_redeemed",
    )
    assert_error(make_client(a).post("/api/v1/coupons/redeem", {"code": "NOPE"}, format="json"), 404)
    coupon_redeem(user=b, code="HELLO14")
    with pytest.raises(CouponCodeAlreadyRedeemed):
        coupon_redeem(user=b, code="hello14")
    with pytest.raises(CouponCampaignExhausted):
        coupon_redeem(user=c, code="HELLO14")
    c_campaign.refresh_from_db()
    assert c_campaign.issued_count == 2
    coupon = Coupon.objects.get(user=a)
    assert coupon.expires_at - coupon.valid_from == timedelta(days=7)
    coupon_campaign_close(campaign_id=c_campaign.pk)
    with pytest.raises(CouponCodeNotFound):  # closed: the code is gone
        coupon_redeem(user=c, code="HELLO14")
    assert books_problems() == []


def test_a_store_campaign_issues_to_its_members_in_batches_within_the_cap(
    budget, django_capture_on_commit_callbacks
):
    store, _, members = make_store(members=4)  # the owner and four members
    with django_capture_on_commit_callbacks(execute=True):
        c_campaign = campaign(audience="store_members", store=store, cap_fen=1_500, amount_fen=500)

    c_campaign.refresh_from_db()
    holders = set(Coupon.objects.filter(campaign=c_campaign).values_list("user_id", flat=True))
    assert len(holders) == 3 == c_campaign.issued_count == c_campaign.target_count  # the cap: 3 coupons
    assert holders <= {store.owner_id, *(m.pk for m in members)}
    assert coupon_campaign_issue_batch(campaign_id=c_campaign.pk) == 0  # nothing twice
    assert coupon_campaigns_sweep(timezone.now()) == 0
    assert books_problems() == []


def test_a_new_members_campaign_issues_to_sign_ups_while_it_runs(budget):
    before = UserFactory(date_joined=timezone.now() - timedelta(hours=1))
    c_campaign = campaign(audience="new_members", cap_fen=5_000, amount_fen=500)
    newcomers = [UserFactory(), UserFactory()]

    coupon_campaigns_sweep(timezone.now() + timedelta(seconds=1))
    coupon_campaigns_sweep(timezone.now() + timedelta(seconds=1))

    holders = set(Coupon.objects.filter(campaign=c_campaign).values_list("user_id", flat=True))
    assert holders == {u.pk for u in newcomers}
    assert before.pk not in holders


def test_paying_with_a_campaign_coupon_draws_on_its_reserve_and_closing_returns_the_rest(budget):
    store, _, (me, friend) = make_store(members=2)
    c_campaign = campaign(cap_fen=2_000, amount_fen=500)  # 4 coupons
    mine = coupon_redeem(user=me, code="HELLO14")
    theirs = coupon_redeem(user=friend, code="HELLO14")
    reserve = campaign_reserve(c_campaign.pk)

    buy_paid(buyer=me, store=store, sku=SkuFactory(price_fen=1_000), coupon_id=mine.pk)

    # the payment debited the budget 500 for the coupon, the reserve paid the budget back 500
    assert account_balance(ref=reserve) == 1_500
    assert account_balance(ref=BUDGET) == budget - 2_000
    assert books_problems() == []

    coupon_campaign_close(campaign_id=c_campaign.pk)  # two never issued: 1,000 back
    c_campaign.refresh_from_db()
    assert (c_campaign.status, c_campaign.released_fen) == ("closed", 1_000)
    assert account_balance(ref=reserve) == 500  # the friend's coupon is still promised
    assert books_problems() == []

    Coupon.objects.filter(pk=theirs.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    coupon_campaigns_sweep(timezone.now())  # just expired: held a while yet (EXPIRY_GRACE)
    assert account_balance(ref=reserve) == 500
    coupon_campaigns_sweep(timezone.now() + EXPIRY_GRACE)  # it expired unused: its 500 back too

    c_campaign.refresh_from_db()
    assert (c_campaign.released_fen, account_balance(ref=reserve)) == (1_500, 0)
    assert account_balance(ref=BUDGET) == budget - 500
    assert books_problems() == []


def test_ledger_check_names_a_campaign_whose_rows_disagree_with_its_reserve(budget):
    c_campaign = campaign(cap_fen=1_000)
    coupon_redeem(user=UserFactory(), code="HELLO14")
    assert coupon_campaigns_check() == []

    CouponCampaign.objects.filter(pk=c_campaign.pk).update(released_fen=300, issued_count=2)

    problems = coupon_campaigns_check()
    assert any(f"reserve of coupon campaign {c_campaign.pk}" in p and "expected 700" in p for p in problems)
    assert any("issued_count 2 but 1 coupons" in p for p in problems)


# --- The share reward ------------------------------------------------------------------------


def test_the_share_reward_lands_in_the_wallet_and_its_notice_names_the_coupon(make_client):
    store, _, (member,) = make_store(members=1)
    now = timezone.now()
    reward = ShareReward.objects.create(
        store=store,
        owner_id=store.owner_id,
        member=member,
        order_id=10**9,
        order_paid_fen=2_000,
        amount_fen=500,
        granted_at=now,
        granted_on=now.date(),
        daily_slot=1,
    )

    issued = coupon_issue_for_share_reward(reward=reward, now=now)

    notice = Notification.objects.get(recipient_id=store.owner_id, kind="share_reward_granted")
    assert notice.data["coupon_id"] == issued.pk
    (listed,) = make_client(store.owner).get("/api/v1/coupons").json()["results"]
    assert (listed["id"], listed["source"], listed["title"], listed["amount_fen"]) == (
        issued.pk,
        "share_reward",
        "分享奖励券",
        500,
    )


# --- Stored values before the wallet ---------------------------------------------------------


def test_the_data_migration_turns_old_values_into_the_wallets():
    from importlib import import_module

    migration = import_module("orders.migrations.0009_coupon_wallet_vocabulary")
    store, _, (me,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_000)
    available, void, unpaid, paid = (coupon(user=me, amount_fen=100 + i) for i in range(4))
    buy(buyer=me, store=store, sku=sku, coupon_id=unpaid.pk)
    buy_paid(buyer=me, store=store, sku=sku, coupon_id=paid.pk)
    Coupon.objects.filter(pk=available.pk).update(status="available", source="ops", title="")
    Coupon.objects.filter(pk=void.pk).update(status="void", source="share_reward", title="")
    Coupon.objects.filter(pk__in=[unpaid.pk, paid.pk]).update(status="used")

    migration.forwards(apps, None)

    got = {c.pk: (c.status, c.source, c.title) for c in Coupon.objects.all()}
    assert got[available.pk] == ("usable", "campaign", "平台优惠券")
    assert got[void.pk] == ("withdrawn", "share_reward", "分享奖励券")
    assert (got[unpaid.pk][0], got[paid.pk][0]) == ("locked", "used")
    assert Order.objects.filter(payment_id=Coupon.objects.get(pk=unpaid.pk).payment_id).exists()


def test_the_sweep_asks_back_only_closed_campaigns_with_something_left(monkeypatch):
    """A closed campaign whose reserve went all to paid coupons has nothing to give back: it
    is not picked again and again ahead of the campaigns that do (a page of 100)."""
    from orders.services import coupons as coupon_services

    spent = campaign(launch=False, code="SPENT1", status="closed", reserved_fen=500)
    from shop.payments.models import Payment

    buyer = UserFactory()
    paid = Payment.objects.create(
        purpose="order_checkout", payer=buyer, amount_fen=1_500, gateway="sandbox", out_trade_no="SPENT1",
        description="抽纸",
    )  # fmt: skip
    Coupon.objects.create(
        user=buyer, campaign=spent, amount_fen=500, status=Coupon.Status.USED, payment=paid,
        used_at=timezone.now(), expires_at=timezone.now(), source=Coupon.Source.CAMPAIGN,
        source_ref=f"campaign:{spent.pk}:1",
    )  # fmt: skip
    # A live coupon holds all of its campaign's reserve: nothing to give back yet.
    promising = campaign(launch=False, code="PROMISE1", status="closed", reserved_fen=500)
    Coupon.objects.create(
        user=buyer, campaign=promising, amount_fen=500, status=Coupon.Status.USABLE,
        expires_at=timezone.now() + timedelta(days=30), source=Coupon.Source.CAMPAIGN,
        source_ref=f"campaign:{promising.pk}:1",
    )  # fmt: skip
    owing = campaign(launch=False, code="OWING1", status="closed", reserved_fen=1_000)
    asked: list[int] = []
    monkeypatch.setattr(
        coupon_services, "coupon_campaign_release", lambda campaign_id, now: asked.append(campaign_id)
    )

    coupon_services.coupon_campaigns_sweep(timezone.now())

    assert asked == [owing.pk]


def test_a_release_just_past_expiry_keeps_the_reserve_of_a_coupon_a_checkout_is_locking(budget):
    """The checkout judged the coupon by its clock read a moment before expiry; the release ran
    a moment after. The coupon is locked (and may be paid): its reserve must still be there."""
    c_campaign = campaign(cap_fen=500, amount_fen=500)
    me = UserFactory()
    mine = coupon_redeem(user=me, code="HELLO14")
    coupon_campaign_close(campaign_id=c_campaign.pk)
    expiry = timezone.now() + timedelta(minutes=1)
    Coupon.objects.filter(pk=mine.pk).update(expires_at=expiry)

    released = coupon_campaign_release(campaign_id=c_campaign.pk, now=expiry + timedelta(seconds=1))
    payment = make_payment(payer=me)
    coupon_use(coupon=mine, buyer=me, payment_id=payment.pk, now=expiry - timedelta(milliseconds=5))

    assert released == 0
    assert account_balance(ref=campaign_reserve(c_campaign.pk)) == 500
    assert books_problems() == []
