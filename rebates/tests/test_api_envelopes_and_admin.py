"""The red-envelope API (members only) and ops' admin pages for the money."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from rebates.models import RedEnvelope, Withdrawal
from rebates.services.settlement import orders_settle
from shop.testing.asserts import assert_error

from .helpers import fund_wallet, make_campaign, make_completed_orders

pytestmark = pytest.mark.django_db


@pytest.fixture
def envelope():
    store, _, members = make_store(members=2)
    make_campaign(budget_fen=300, envelope_fen=300, shares=1, stores=[store])
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=5)
    (order,) = make_completed_orders(buyers=[members[0]], store=store, sku=sku)
    orders_settle(order_ids=[order.pk])
    return RedEnvelope.objects.get(order=order), members


def test_members_list_and_claim_a_stores_envelopes(make_client, envelope):
    envelope, (first, second) = envelope
    url = f"/api/v1/stores/{envelope.store_id}/red-envelopes"

    claimed = make_client(first).post(f"/api/v1/red-envelopes/{envelope.pk}/claim")

    assert claimed.status_code == 200, claimed.content
    assert claimed.json() == {"amount_fen": 300}  # one share takes it all
    (row,) = make_client(first).get(url).json()["results"]
    assert (row["id"], row["total_fen"], row["shares"], row["claimed_count"], row["my_claim_fen"]) == (
        envelope.pk,
        300,
        1,
        1,
        300,
    )
    assert make_client(second).get(url).json()["results"][0]["my_claim_fen"] is None
    assert_error(
        make_client(second).post(f"/api/v1/red-envelopes/{envelope.pk}/claim"), 409, "envelope_empty"
    )
    assert_error(make_client(first).post(f"/api/v1/red-envelopes/{envelope.pk}/claim"), 409)
    assert make_client(first).get("/api/v1/wallet").json()["available_fen"] == 59 + 300
    lines = make_client(first).get("/api/v1/wallet/entries").json()["results"]
    assert [(e["kind"], e["envelope_id"], e["amount_fen"]) for e in lines if e["envelope_id"]] == [
        ("envelope_claimed", envelope.pk, 300)
    ]


def test_outsiders_get_404_for_a_stores_envelopes(make_client, envelope):
    envelope, _ = envelope
    outsider = make_client(UserFactory())

    assert_error(outsider.get(f"/api/v1/stores/{envelope.store_id}/red-envelopes"), 404, "not_found")
    assert_error(outsider.post(f"/api/v1/red-envelopes/{envelope.pk}/claim"), 404, "not_found")
    assert_error(outsider.post("/api/v1/red-envelopes/999999/claim"), 404, "not_found")


def test_ops_pages_open_and_retry_speaks_ops_language(admin_client, envelope, make_client):
    client = admin_client
    envelope, (member, _) = envelope
    fund_wallet(member, 1_000)
    make_client(member).post("/api/v1/wallet/withdrawals", {"amount_fen": 500}, format="json")

    for name in (
        "ledger_account",
        "ledger_transaction",
        "ledger_merchantbalance",
        "rebates_settlementrun",
        "rebates_ordersettlement",
        "rebates_redenvelopecampaign",
        "rebates_redenvelope",
        "rebates_redenvelopeclaim",
        "rebates_withdrawal",
        "payments_payout",
    ):
        response = client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
    assert client.get(reverse("admin:rebates_redenvelope_change", args=[envelope.pk])).status_code == 200

    withdrawal = Withdrawal.objects.get()
    response = client.post(
        reverse("admin:rebates_withdrawal_changelist"),
        {"action": "retry_payout", "_selected_action": [withdrawal.pk]},
        follow=True,
    )
    assert "still in flight" in response.content.decode()
