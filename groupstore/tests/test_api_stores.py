"""Group stores through the API (docs/api.md "Group stores"): status codes, error shapes,
who may see what, pagination and the anti-spam throttles."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import InvitationCode, Leader, Membership, ShareLink, Store
from groupstore.services import store_freeze, store_stats_record_commission, store_stats_record_payment
from groupstore.tests.factories import make_invitation_code, make_leader, make_store
from products.models import Product
from products.tests.factories import ProductFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


def test_creating_a_store_answers_201_with_a_share_token(make_client):
    owner = UserFactory()

    response = make_client(owner).post("/api/v1/stores", {"name": "宝妈团"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["owner_id"]) == ("宝妈团", owner.pk)
    assert ShareLink.objects.get(store_id=body["id"]).token == body["share_token"]


def test_creating_a_store_for_a_chat_group_that_has_one_answers_200_with_it(make_client):
    store, _, _ = make_store(wechat_group_id="gid-api")
    latecomer = UserFactory()

    response = make_client(latecomer).post(
        "/api/v1/stores", {"name": "另一个", "wechat_group_id": "gid-api"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["id"] == store.pk
    assert Membership.objects.get(store=store, user=latecomer).role == "member"
    assert Store.objects.count() == 1


def test_a_clear_group_id_is_refused_outside_the_sandbox(make_client, settings):
    settings.SANDBOX = False

    response = make_client(UserFactory()).post(
        "/api/v1/stores", {"name": "x", "wechat_group_id": "gid-steal"}, format="json"
    )

    assert_error(response, 400, "clear_group_id_not_allowed")
    assert Store.objects.exists() is False


def test_joining_answers_the_role_and_is_idempotent(make_client):
    store, token, _ = make_store()
    client = make_client(UserFactory())

    first = client.post("/api/v1/stores/join", {"share_token": token}, format="json")
    second = client.post("/api/v1/stores/join", {"share_token": token}, format="json")
    as_owner = make_client(store.owner).post("/api/v1/stores/join", {"share_token": token}, format="json")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert (first.json()["store_id"], first.json()["role"]) == (store.pk, "member")
    assert as_owner.json()["role"] == "owner"


def test_a_bad_token_is_404_a_withdrawn_one_410_a_frozen_store_410(make_client):
    store, token, _ = make_store()
    frozen, frozen_token, _ = make_store()
    store_freeze(store_id=frozen.pk)
    withdrawn = ShareLink.objects.create(
        store=store, token="withdrawn-token", created_by=store.owner, is_revoked=True
    )
    client = make_client(UserFactory())

    assert_error(
        client.post("/api/v1/stores/join", {"share_token": "nope"}, format="json"),
        404,
        "share_link_not_found",
    )
    assert_error(
        client.post("/api/v1/stores/join", {"share_token": withdrawn.token}, format="json"),
        410,
        "share_link_revoked",
    )
    assert_error(
        client.post("/api/v1/stores/join", {"share_token": frozen_token}, format="json"), 410, "store_frozen"
    )
    assert_error(client.post(f"/api/v1/stores/{frozen.pk}/share-links", {}, format="json"), 404)
    assert_error(
        make_client(frozen.owner).post(f"/api/v1/stores/{frozen.pk}/share-links", {}, format="json"),
        410,
        "store_frozen",
    )


def test_members_may_share_links_too_per_store_or_per_product(make_client):
    store, _, (member,) = make_store(members=1)
    product = ProductFactory()

    plain = make_client(member).post(f"/api/v1/stores/{store.pk}/share-links", {}, format="json")
    for_product = make_client(member).post(
        f"/api/v1/stores/{store.pk}/share-links", {"product_id": product.pk}, format="json"
    )

    assert plain.status_code == for_product.status_code == 201
    link = ShareLink.objects.get(token=for_product.json()["share_token"])
    assert (link.store_id, link.product_id, link.created_by_id) == (store.pk, product.pk, member.pk)


# --- Dashboard and members ---------------------------------------------------------


@pytest.fixture
def store_with_figures():
    """A store with three members whose figures were pushed as orders and rebates would."""
    store, _, members = make_store(members=3)
    for member, paid, discount in zip(members, [5_000, 12_000, 800], [300, 100, 900], strict=True):
        store_stats_record_payment(
            store_id=store.pk, buyer_id=member.pk, paid_fen=paid, discount_fen=discount
        )
    store_stats_record_commission(store_id=store.pk, pending_fen=700)
    store_stats_record_commission(store_id=store.pk, pending_fen=-200, settled_fen=200)
    return store, members


def test_the_owner_sees_the_dashboard_from_the_aggregates(make_client, store_with_figures, settings):
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 10_000}
    store, _ = store_with_figures

    response = make_client(store.owner).get(f"/api/v1/stores/{store.pk}/dashboard")

    assert response.status_code == 200
    assert response.json() == {
        "gmv_fen": 17_800,
        "members_count": 4,
        "orders_count": 3,
        "commission_pending_fen": 500,
        "commission_settled_fen": 200,
        "commission_clawed_back_fen": 0,
        "flash_unlocked": True,
    }


def test_a_member_may_not_read_the_dashboard_or_members_and_a_stranger_does_not_see_them(
    make_client, store_with_figures
):
    store, (member, *_) = store_with_figures
    stranger = make_client(UserFactory())

    assert_error(make_client(member).get(f"/api/v1/stores/{store.pk}/dashboard"), 403, "not_store_owner")
    assert_error(make_client(member).get(f"/api/v1/stores/{store.pk}/members"), 403, "not_store_owner")
    assert_error(stranger.get(f"/api/v1/stores/{store.pk}/dashboard"), 404)
    assert_error(stranger.get(f"/api/v1/stores/{store.pk}/members"), 404)


def test_members_are_sorted_by_saved_or_paid_and_show_no_phone_or_address(make_client, store_with_figures):
    store, (a, b, c) = store_with_figures
    client = make_client(store.owner)

    by_saved = client.get(f"/api/v1/stores/{store.pk}/members").json()
    by_paid = client.get(f"/api/v1/stores/{store.pk}/members?ordering=-paid_fen").json()

    assert [m["user_id"] for m in by_saved["results"]] == [c.pk, a.pk, b.pk, store.owner_id]
    assert [m["user_id"] for m in by_paid["results"]] == [b.pk, a.pk, c.pk, store.owner_id]
    assert by_saved["results"][0] == {
        "user_id": c.pk,
        "nickname": c.nickname,
        "joined_at": by_saved["results"][0]["joined_at"],
        "orders_count": 1,
        "paid_fen": 800,
        "saved_fen": 900,
    }
    text = str(by_saved)
    assert all(u.phone not in text for u in (a, b, c))


def test_the_members_list_is_paginated_with_the_count_from_the_aggregate(
    make_client, django_assert_max_num_queries
):
    store, _, _ = make_store(members=5)
    client = make_client(store.owner)

    with django_assert_max_num_queries(3):  # token, store+stats, one page
        first = client.get(f"/api/v1/stores/{store.pk}/members?page_size=2")
    last = client.get(f"/api/v1/stores/{store.pk}/members?page_size=2&page=3").json()

    body = first.json()
    assert (body["count"], len(body["results"]), body["previous"]) == (6, 2, None)
    assert "page=2" in body["next"]
    assert (len(last["results"]), last["next"]) == (2, None)
    assert_error(client.get(f"/api/v1/stores/{store.pk}/members?page=4&page_size=2"), 404)
    assert_error(client.get(f"/api/v1/stores/{store.pk}/members?ordering=phone"), 400, "validation_error")


def test_the_dashboard_is_one_query_after_the_token(
    make_client, store_with_figures, django_assert_num_queries
):
    store, _ = store_with_figures
    client = make_client(store.owner)

    with django_assert_num_queries(2):
        assert client.get(f"/api/v1/stores/{store.pk}/dashboard").status_code == 200


def test_my_savings_across_stores(make_client):
    me = UserFactory()
    one, _, _ = make_store()
    two, _, _ = make_store()
    for store, paid, discount in ((one, 1_000, 150), (two, 2_000, 50)):
        Membership.objects.create(store=store, user=me, joined_at=timezone.now())
        store_stats_record_payment(store_id=store.pk, buyer_id=me.pk, paid_fen=paid, discount_fen=discount)

    body = make_client(me).get("/api/v1/savings").json()

    assert (body["saved_fen"], body["rebate_fen"]) == (200, 0)
    assert [(s["store_id"], s["saved_fen"], s["paid_fen"]) for s in body["by_store"]] == [
        (one.pk, 150, 1_000),
        (two.pk, 50, 2_000),
    ]


# --- Leaders and venues ----------------------------------------------------------------


def test_registering_as_a_leader_with_a_code(make_client):
    code = make_invitation_code()
    client = make_client(UserFactory())

    created = client.post("/api/v1/leaders/register", {"invitation_code": code.code}, format="json")
    again = client.post("/api/v1/leaders/register", {"invitation_code": code.code}, format="json")
    mine = client.get("/api/v1/leaders/me")

    assert created.status_code == 201
    assert created.json()["status"] == "applied"
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"] == mine.json()["id"]
    assert InvitationCode.objects.get(pk=code.pk).used_count == 1


@pytest.mark.parametrize(
    ("state", "status", "code"),
    [
        ("unknown", 400, "invitation_code_invalid"),
        ("expired", 410, "invitation_code_expired"),
        ("used_up", 409, "invitation_code_used_up"),
    ],
)
def test_a_bad_invitation_code_is_refused_in_the_error_shape(make_client, state, status, code):
    invitation = make_invitation_code()
    if state == "expired":
        InvitationCode.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
    if state == "used_up":
        InvitationCode.objects.filter(pk=invitation.pk).update(used_count=1)
    sent = "ZZZZZZZZZZZZ" if state == "unknown" else invitation.code

    response = make_client(UserFactory()).post(
        "/api/v1/leaders/register", {"invitation_code": sent}, format="json"
    )

    assert_error(response, status, code)
    assert Leader.objects.exists() is False


def test_the_leader_puts_the_venue_selection_and_members_read_it(make_client):
    leader = make_leader()
    store, _, (member,) = make_store(owner=leader.user, members=1)
    on_sale = ProductFactory.create_batch(2)
    off_sale = ProductFactory(status=Product.Status.OFF_SALE)
    ids = [on_sale[1].pk, on_sale[0].pk]

    put = make_client(leader.user).put(
        f"/api/v1/stores/{store.pk}/selection", {"product_ids": ids}, format="json"
    )
    bad = make_client(leader.user).put(
        f"/api/v1/stores/{store.pk}/selection", {"product_ids": [off_sale.pk]}, format="json"
    )
    by_member = make_client(member).put(
        f"/api/v1/stores/{store.pk}/selection", {"product_ids": ids}, format="json"
    )
    read = make_client(member).get(f"/api/v1/stores/{store.pk}/selection")

    assert put.status_code == 200
    assert put.json()["product_ids"] == ids
    assert [p["id"] for p in put.json()["products"]] == ids  # the products, in the leader's order
    assert assert_error(bad, 400, "validation_error")["fields"] == {
        "product_ids.0": [f"Product {off_sale.pk} is not on sale."]
    }
    assert_error(by_member, 403)
    assert read.json() == put.json()
    assert read.json()["store_id"] == store.pk
    assert read.json()["is_venue"] is True
    assert make_client(member).get(f"/api/v1/stores/{store.pk}").json()["is_venue"] is True


def test_an_owner_who_is_not_a_leader_cannot_put_a_selection(make_client):
    store, _, _ = make_store()

    response = make_client(store.owner).put(
        f"/api/v1/stores/{store.pk}/selection", {"product_ids": [ProductFactory().pk]}, format="json"
    )

    assert_error(response, 403, "not_a_certified_leader")


@pytest.mark.parametrize(
    "body", [{}, {"product_ids": "1,2"}, {"product_ids": [0]}, {"product_ids": list(range(1, 202))}]
)
def test_a_malformed_selection_is_a_400(make_client, body):
    leader = make_leader()
    store, _, _ = make_store(owner=leader.user)

    response = make_client(leader.user).put(f"/api/v1/stores/{store.pk}/selection", body, format="json")

    assert_error(response, 400, "validation_error")


# --- Anti-spam throttles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "call"),
    [
        ("store_create", lambda c, store, token: c.post("/api/v1/stores", {"name": "刷屏"}, format="json")),
        (
            "share_link_create",
            lambda c, store, token: c.post(f"/api/v1/stores/{store.pk}/share-links", {}, format="json"),
        ),
        (
            "store_join",
            lambda c, store, token: c.post("/api/v1/stores/join", {"share_token": token}, format="json"),
        ),
    ],
)
def test_per_user_throttles_answer_429_in_the_error_shape(make_client, settings, scope, call):
    # given a low rate, and a user id no other test run in this Redis will use
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: "3/hour"},
    }
    user = UserFactory(pk=random.randint(10**12, 10**13))
    store, token, _ = make_store(owner=user)
    cache.delete(f"throttle_{scope}_{user.pk}")
    client = make_client(user)
    try:
        # when the user calls four times in a row
        answers = [call(client, store, token).status_code for _ in range(4)]
        # (a random id too: throttle keys are per user id in the Redis every test run shares)
        other_user = call(make_client(UserFactory(pk=random.randint(10**12, 10**13))), store, token)
    finally:
        cache.delete(f"throttle_{scope}_{user.pk}")

    # then the fourth is refused, and another user is not affected
    assert 429 not in answers[:3]
    assert answers[3] == 429
    assert other_user.status_code != 429


def test_a_throttled_answer_says_when_to_retry(make_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "store_create": "1/hour",
        },
    }
    user = UserFactory(pk=random.randint(10**12, 10**13))
    cache.delete(f"throttle_store_create_{user.pk}")
    client = make_client(user)
    try:
        client.post("/api/v1/stores", {"name": "一"}, format="json")
        response = client.post("/api/v1/stores", {"name": "二"}, format="json")
    finally:
        cache.delete(f"throttle_store_create_{user.pk}")

    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 3600
    assert Store.objects.filter(owner=user).count() == 1
