"""The HTTP contract of quote, orders with teams and coupons, and ``GET /teams/{id}``."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.models import Coupon, Order, Team
from shop.testing.asserts import assert_error

from .helpers import ADDRESS, coupon, flash_offer, team_sku, unlock_flash

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store, _, members = make_store(members=3)
    return store, members, team_sku()


def test_quote_shows_lines_totals_coupon_and_team(make_client, shop):
    store, (buyer, *_), sku = shop
    c = coupon(user=buyer, amount_fen=300)

    response = make_client(buyer).post(
        "/api/v1/checkout/quote",
        {
            "store_id": store.pk,
            "items": [{"sku_id": sku.pk, "qty": 2}],
            "coupon_id": c.pk,
            "team": {"open": True},
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    (line,) = body["lines"]
    assert {k: line[k] for k in ("price_kind", "unit_price_fen", "sale_fen", "coupon_fen", "paid_fen")} == {
        "price_kind": "team",
        "unit_price_fen": 1_990,
        "sale_fen": 3_980,
        "coupon_fen": 300,
        "paid_fen": 3_680,
    }
    assert line["discount_fen"] == 5_980 - 3_680
    assert (body["list_fen"], body["sale_fen"], body["coupon_fen"], body["paid_fen"]) == (
        5_980,
        3_980,
        300,
        3_680,
    )
    assert body["coupon"]["id"] == c.pk
    assert body["coupon"]["amount_fen"] == 300
    assert body["team"] == {
        "id": None,
        "size": 3,
        "members_count": 0,
        "status": "new",
        "expires_at": None,
        "new_customers_only": False,
    }
    assert Team.objects.count() == 0
    assert Order.objects.count() == 0


def test_orders_in_a_team_carry_their_team_and_the_team_is_public(make_client, shop):
    store, (a, b, _), sku = shop
    body = {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS}
    created = make_client(a).post("/api/v1/orders", {**body, "team": {"open": True}}, format="json")
    assert created.status_code == 201, created.content
    team = Team.objects.get()
    assert created.json()["orders"][0]["team"] == {"id": team.pk, "size": 3, "status": "open"}
    make_client(b).post("/api/v1/orders", {**body, "team": {"join": team.pk}}, format="json")

    seen = make_client(UserFactory()).get(f"/api/v1/teams/{team.pk}")

    assert seen.status_code == 200
    out = seen.json()
    assert {k: out[k] for k in ("id", "sku_id", "size", "members_count", "status")} == {
        "id": team.pk,
        "sku_id": sku.pk,
        "size": 3,
        "members_count": 2,
        "status": "open",
    }
    assert out["members"] == [
        {"nickname": a.nickname, "is_leader": True},
        {"nickname": b.nickname, "is_leader": False},
    ]
    text = seen.content.decode()
    assert ADDRESS["phone"] not in text
    assert str(a.pk) not in [str(m.get("id")) for m in out["members"]]
    detail = make_client(b).get(f"/api/v1/orders/{Order.objects.get(buyer=b).pk}").json()
    assert detail["team"] == {"id": team.pk, "size": 3, "status": "open"}


def test_team_needs_a_signed_in_shopper_and_an_existing_team(make_client, api_client):
    assert_error(api_client.get("/api/v1/teams/1"), 401)
    assert_error(make_client(UserFactory()).get("/api/v1/teams/999999"), 404, "not_found")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"team": {}}, "team"),
        ({"team": {"open": True, "join": 3}}, "team"),
        ({"team": {"join": 0}}, "team"),
        ({"team": {"join": 3, "new_customers_only": True}}, "team"),
        ({"team": "yes"}, "team"),
        ({"coupon_id": "abc"}, "coupon_id"),
        ({"coupon_id": 0}, "coupon_id"),
    ],
)
def test_bad_team_or_coupon_input_is_a_400_with_fields(make_client, shop, extra, field):
    store, (buyer, *_), sku = shop
    body = {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS, **extra}

    error = assert_error(
        make_client(buyer).post("/api/v1/orders", body, format="json"), 400, "validation_error"
    )

    assert any(key == field or key.startswith(f"{field}.") for key in error["fields"]), error
    assert Order.objects.count() == 0


def test_refusals_through_the_api_have_their_codes(make_client, shop, settings):
    store, (a, b, c), sku = shop
    client = make_client(a)
    body = {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS}
    assert_error(client.post("/api/v1/orders", {**body, "team": {"join": 424242}}, format="json"), 404)
    assert_error(client.post("/api/v1/orders", {**body, "coupon_id": 424242}, format="json"), 404)
    theirs = coupon(user=b)
    assert_error(client.post("/api/v1/orders", {**body, "coupon_id": theirs.pk}, format="json"), 404)
    two = {**body, "items": [{"sku_id": sku.pk, "qty": 1}, {"sku_id": team_sku().pk, "qty": 1}]}
    assert_error(client.post("/api/v1/orders", {**two, "team": {"open": True}}, format="json"), 400)
    assert client.post("/api/v1/orders", {**body, "team": {"open": True}}, format="json").status_code == 201
    team = Team.objects.get()
    join = {**body, "team": {"join": team.pk}}
    assert_error(client.post("/api/v1/orders", join, format="json"), 409, "team_already_joined")
    unlock_flash(settings)
    sold = flash_offer(sku=team_sku(), quantity=1)
    flash_body = {**body, "items": [{"sku_id": sold.sku_id, "qty": 1}]}
    assert make_client(b).post("/api/v1/orders", flash_body, format="json").status_code == 201
    assert_error(make_client(c).post("/api/v1/orders", flash_body, format="json"), 409, "flash_sold_out")
    assert_error(make_client(b).post("/api/v1/orders", flash_body, format="json"), 409)
    assert Order.objects.count() == 2
    assert Coupon.objects.get(pk=theirs.pk).status == "usable"
