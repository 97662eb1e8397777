"""Ops' coupon campaigns and marketing budget in admin: every money move through services."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from groupstore.tests.factories import make_store
from orders.models import Coupon, CouponCampaign, MarketingBudgetAllocation
from shop.audit.models import AuditEntry
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef

pytestmark = pytest.mark.django_db

BUDGET = AccountRef.platform(Account.Kind.MARKETING_BUDGET)


def _act(client, action: str, pk: int):
    return client.post("/admin/orders/couponcampaign/", {"action": action, ACTION_CHECKBOX_NAME: [pk]})


def _campaign_form(**overrides):
    form = {
        "title": "双十二立减",
        "audience": "code",
        "store": "",
        "code": " xmas12 ",
        "amount_fen": "500",
        "min_spend_fen": "2000",
        "valid_days": "7",
        "starts_at_0": "2026-12-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2099-12-31",
        "ends_at_1": "00:00:00",
        "cap_fen": "5000",
    }
    return {**form, **overrides}


def test_ops_fund_the_budget_then_write_launch_and_close_a_campaign(admin_client):
    assert admin_client.get("/admin/orders/couponcampaign/add/").status_code == 200
    response = admin_client.post("/admin/orders/couponcampaign/add/", _campaign_form())
    assert response.status_code == 302, response.content[:2000]
    campaign = CouponCampaign.objects.get()
    assert (campaign.code, campaign.status, campaign.reserved_fen) == ("XMAS12", "draft", 0)

    # the budget is empty: the launch is refused, in words, and nothing moves
    response = admin_client.post(
        "/admin/orders/couponcampaign/",
        {"action": "launch", ACTION_CHECKBOX_NAME: [campaign.pk]},
        follow=True,
    )
    assert "does not hold this campaign" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft"

    response = admin_client.post(
        "/admin/orders/marketingbudgetallocation/add/", {"amount_fen": "8000", "note": "December"}
    )
    assert response.status_code == 302, response.content[:2000]
    assert MarketingBudgetAllocation.objects.get().amount_fen == 8_000
    assert account_balance(ref=BUDGET) == 8_000

    _act(admin_client, "launch", campaign.pk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.reserved_fen, account_balance(ref=BUDGET)) == ("active", 5_000, 3_000)
    listing = admin_client.get("/admin/orders/couponcampaign/").content.decode()
    assert "0 of 10" in listing  # progress: none issued of the cap's ten

    # a launched campaign's terms no longer change
    admin_client.post(f"/admin/orders/couponcampaign/{campaign.pk}/change/", _campaign_form(amount_fen="1"))
    campaign.refresh_from_db()
    assert campaign.amount_fen == 500

    _act(admin_client, "close", campaign.pk)  # asks for a reason first: nothing closes
    assert CouponCampaign.objects.get(pk=campaign.pk).status == "active"
    admin_client.post(
        "/admin/orders/couponcampaign/",
        {
            "action": "close",
            ACTION_CHECKBOX_NAME: [campaign.pk],
            "audit_apply": "1",
            "audit_reason": "预算调整",
        },
    )
    campaign.refresh_from_db()
    assert (campaign.status, campaign.released_fen, account_balance(ref=BUDGET)) == ("closed", 5_000, 8_000)
    trail = AuditEntry.objects.order_by("id")
    assert [(e.action, e.object_id, e.reason, e.details) for e in trail] == [
        (
            "marketing_budget.allocate",
            str(MarketingBudgetAllocation.objects.get().pk),
            "December",
            {"amount_fen": 8_000},
        ),
        ("coupon_campaign.launch", str(campaign.pk), "", {"cap_fen": 5_000}),
        ("coupon_campaign.close", str(campaign.pk), "预算调整", {}),
    ]


def test_the_campaign_form_refuses_incoherent_terms(admin_client):
    response = admin_client.post(
        "/admin/orders/couponcampaign/add/",
        _campaign_form(audience="store_members", code="", cap_fen="100"),
    )

    assert response.status_code == 200
    text = response.content.decode()
    assert "Choose the store whose members get the coupon." in text
    assert "The cap must pay for at least one coupon." in text
    assert CouponCampaign.objects.count() == 0


def test_a_store_campaign_launched_in_admin_fills_its_members_wallets(
    admin_client, django_capture_on_commit_callbacks
):
    store, _, members = make_store(members=2)
    admin_client.post("/admin/orders/marketingbudgetallocation/add/", {"amount_fen": "10000", "note": ""})
    admin_client.post(
        "/admin/orders/couponcampaign/add/",
        _campaign_form(audience="store_members", store=str(store.pk), code="", cap_fen="5000"),
    )
    campaign = CouponCampaign.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/orders/couponcampaign/", {"action": "launch", ACTION_CHECKBOX_NAME: [campaign.pk]}
        )

    holders = set(Coupon.objects.filter(campaign=campaign).values_list("user_id", flat=True))
    assert holders == {store.owner_id, *(m.pk for m in members)}
    assert "3 of 3" in admin_client.get("/admin/orders/couponcampaign/").content.decode()


def test_saving_a_campaign_s_page_never_writes_back_counters_moved_meanwhile(admin_client):
    """The page writes a draft's changed terms only (one conditional UPDATE, never the whole
    row it loaded, which a redeem, a launch or the sweeper may have moved since), and nothing
    of a launched campaign."""
    admin_client.post("/admin/orders/couponcampaign/add/", _campaign_form())
    campaign = CouponCampaign.objects.get()
    admin_client.post(f"/admin/orders/couponcampaign/{campaign.pk}/change/", _campaign_form(title="改名"))
    campaign.refresh_from_db()
    assert campaign.title == "改名"  # a draft's term changed

    # Launched and 3 issued meanwhile (as if by redeems); then a stale form is saved.
    CouponCampaign.objects.filter(pk=campaign.pk).update(status="active", issued_count=3, reserved_fen=5_000)
    admin_client.post(f"/admin/orders/couponcampaign/{campaign.pk}/change/", _campaign_form(title="旧的"))
    campaign.refresh_from_db()
    assert (campaign.status, campaign.issued_count, campaign.reserved_fen) == ("active", 3, 5_000)
    assert campaign.title == "改名"
