"""Flash offers that checkout honours (issue 14): merchants propose, ops decide, only approved
offers are live — at checkout, on the store's list and on the product page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.errors import FlashOfferNotReviewable, FlashOfferOverlaps
from orders.models import FlashOffer
from orders.services.checkout import checkout_quote
from orders.services.flash_offers import flash_offer_propose, flash_offer_review
from products.models import Product
from products.tests.factories import SkuFactory
from shop.audit.models import AuditEntry
from shop.errors import ValidationFailed
from shop.notifications.models import Notification

from .helpers import buy, flash_offer, unlock_flash

pytestmark = pytest.mark.django_db

URL = "/api/v1/merchant/flash-offers"


@pytest.fixture
def seller():
    """A merchant's staff member and one SKU of theirs (¥19.90, 100 on hand, 10 reserved)."""
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, on_hand=100, reserved=10)
    return staff, sku


def _terms(sku, **overrides):
    start = timezone.now() + timedelta(hours=1)
    return {
        "sku_id": sku.pk,
        "flash_price_fen": 990,
        "units": 50,
        "per_buyer_limit": 2,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        **overrides,
    }


def _quote(buyer, store, sku, **kw):
    return checkout_quote(buyer=buyer, store_id=store.pk, items=[{"sku_id": sku.pk, "qty": 1}], **kw)


# --- proposing ------------------------------------------------------------------------


def test_a_merchant_proposes_an_offer_that_waits_for_review_and_lists_it(seller, make_client):
    staff, sku = seller
    client = make_client(staff.user)

    created = client.post(URL, _terms(sku), format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending_review"
    assert (body["sku_id"], body["product_id"], body["flash_price_fen"]) == (sku.pk, sku.product_id, 990)
    assert (body["units"], body["units_sold"], body["per_buyer_limit"]) == (50, 0, 2)
    offer = FlashOffer.objects.get(pk=body["id"])
    assert (offer.status, offer.proposed_by_id, offer.quantity) == ("pending_review", staff.user.pk, 50)
    listed = client.get(URL)
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()["results"]] == [offer.pk]
    assert client.get(URL, {"status": "approved"}).json()["results"] == []


def test_a_proposal_cannot_set_its_own_status_or_sales(seller, make_client):
    staff, sku = seller
    body = {**_terms(sku), "status": "approved", "sold_count": 0, "quantity": 99, "reviewed_by": 1}

    created = make_client(staff.user).post(URL, body, format="json")

    assert created.status_code == 201, created.content
    offer = FlashOffer.objects.get(pk=created.json()["id"])
    assert (offer.status, offer.quantity, offer.reviewed_by_id) == ("pending_review", 50, None)


def test_another_merchants_sku_is_not_found_and_nothing_is_written(seller, make_client):
    _, sku = seller
    stranger = MerchantStaffFactory()

    refused = make_client(stranger.user).post(URL, _terms(sku), format="json")

    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert not FlashOffer.objects.exists()
    # and the owner's list is not someone else's to read
    flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))
    assert make_client(stranger.user).get(URL).json()["results"] == []


def test_only_merchant_staff_may_propose(seller, make_client):
    _, sku = seller
    from accounts.tests.factories import UserFactory

    assert make_client(UserFactory()).post(URL, _terms(sku), format="json").status_code == 403
    assert make_client(None).post(URL, _terms(sku), format="json").status_code == 401
    assert not FlashOffer.objects.exists()


def _service_terms(sku, **overrides):
    start = timezone.now() + timedelta(hours=1)
    return {
        "sku_id": sku.pk,
        "flash_price_fen": 990,
        "units": 50,
        "per_buyer_limit": 2,
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"flash_price_fen": 1_990}, "flash_price_fen"),  # not below the SKU's price
        ({"flash_price_fen": 0}, "flash_price_fen"),
        ({"units": 91}, "units"),  # 100 on hand − 10 reserved = 90 available
        ({"units": 0}, "units"),
        ({"per_buyer_limit": 0}, "per_buyer_limit"),
        ({"units": 3, "per_buyer_limit": 4}, "per_buyer_limit"),
        ({"starts_at": -60}, "starts_at"),  # in the past
        ({"starts_at": 31 * 86_400}, "starts_at"),  # too far ahead
        ({"ends_at": -1}, "ends_at"),  # before the start
        ({"ends_at": 7 * 86_400 + 1}, "ends_at"),  # a window longer than a week
    ],
)
def test_terms_out_of_bounds_are_refused_by_field(seller, overrides, field):
    _, sku = seller
    now = timezone.now()
    terms = _service_terms(sku)
    if "starts_at" in overrides:
        overrides = {**overrides, "starts_at": now + timedelta(seconds=overrides["starts_at"])}
        overrides.setdefault("ends_at", overrides["starts_at"] + timedelta(hours=1))
    if "ends_at" in overrides and not isinstance(overrides["ends_at"], type(now)):
        overrides = {**overrides, "ends_at": terms["starts_at"] + timedelta(seconds=overrides["ends_at"])}

    with pytest.raises(ValidationFailed) as refused:
        flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, now=now, **{**terms, **overrides})

    assert field in refused.value.fields
    assert not FlashOffer.objects.exists()


def test_bad_terms_answer_400_naming_the_field(seller, make_client):
    staff, sku = seller

    refused = make_client(staff.user).post(URL, _terms(sku, flash_price_fen=2_000), format="json")

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    assert "flash_price_fen" in refused.json()["error"]["fields"]


def test_an_overlapping_offer_of_the_same_sku_is_refused_but_a_rejected_one_does_not_count(seller):
    _, sku = seller
    first = flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))

    with pytest.raises(FlashOfferOverlaps):
        flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))

    flash_offer_review(offer_id=first.pk, approve=False, reviewer=None, reason="价格太低")
    again = flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))
    assert again.status == "pending_review"


# --- ops' review ----------------------------------------------------------------------


def test_approval_makes_the_offer_live_at_checkout_and_tells_the_merchant(seller, settings):
    staff, sku = seller
    unlock_flash(settings)
    store, _, (buyer,) = make_store(members=1)
    offer = flash_offer_propose(merchant_id=sku.merchant_id, proposer=staff.user, **_service_terms(sku))
    during = offer.starts_at + timedelta(minutes=1)
    assert _quote(buyer, store, sku, now=during).lines[0].price_kind == "normal"  # not approved yet

    flash_offer_review(offer_id=offer.pk, approve=True, reviewer=None)

    line = _quote(buyer, store, sku, now=during).lines[0]
    assert (line.price_kind, line.unit_price_fen) == ("flash", 990)
    assert (
        _quote(buyer, store, sku, now=offer.starts_at - timedelta(seconds=1)).lines[0].price_kind == "normal"
    )
    notice = Notification.objects.get(recipient=staff.user, kind="flash_offer_reviewed")
    assert notice.data == {"flash_offer_id": offer.pk, "sku_id": sku.pk, "status": "approved"}


def test_a_rejection_needs_a_reason_which_the_merchant_is_told(seller):
    staff, sku = seller
    offer = flash_offer_propose(merchant_id=sku.merchant_id, proposer=staff.user, **_service_terms(sku))

    with pytest.raises(ValidationFailed):
        flash_offer_review(offer_id=offer.pk, approve=False, reviewer=None, reason="  ")
    flash_offer_review(offer_id=offer.pk, approve=False, reviewer=None, reason="限购数量过高")

    offer.refresh_from_db()
    assert (offer.status, offer.rejection_reason) == ("rejected", "限购数量过高")
    notice = Notification.objects.get(recipient=staff.user, kind="flash_offer_reviewed")
    assert notice.body == "限购数量过高"
    # a decided offer stays decided; the same decision again changes nothing
    with pytest.raises(FlashOfferNotReviewable):
        flash_offer_review(offer_id=offer.pk, approve=True, reviewer=None)
    flash_offer_review(offer_id=offer.pk, approve=False, reviewer=None, reason="again")
    offer.refresh_from_db()
    assert offer.rejection_reason == "限购数量过高"
    assert Notification.objects.filter(kind="flash_offer_reviewed").count() == 1


def test_an_offer_whose_window_ended_cannot_be_approved(seller):
    _, sku = seller
    offer = flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))

    with pytest.raises(FlashOfferNotReviewable):
        flash_offer_review(offer_id=offer.pk, approve=True, reviewer=None, now=offer.ends_at)

    offer.refresh_from_db()
    assert offer.status == "pending_review"


def test_an_offer_overlapping_one_ops_added_meanwhile_cannot_be_approved(seller):
    _, sku = seller
    offer = flash_offer_propose(merchant_id=sku.merchant_id, proposer=None, **_service_terms(sku))
    flash_offer(sku=sku, starts_at=offer.starts_at + timedelta(minutes=30), ends_at=offer.ends_at)

    with pytest.raises(FlashOfferOverlaps):
        flash_offer_review(offer_id=offer.pk, approve=True, reviewer=None)

    offer.refresh_from_db()
    assert offer.status == "pending_review"


@pytest.mark.parametrize("status", ["pending_review", "rejected"])
def test_an_offer_not_approved_is_never_charged(settings, status):
    # given an unlocked store and an offer in its window that ops have not approved
    unlock_flash(settings)
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990, on_hand=10)
    offer = flash_offer(sku=sku, price_fen=990, status=status)

    # when the member quotes and orders it
    line = _quote(buyer, store, sku)
    order = buy(buyer=buyer, store=store, sku=sku).orders[0]

    # then the list price is charged and the offer counts nothing
    assert (line.lines[0].price_kind, line.lines[0].unit_price_fen) == ("normal", 1_990)
    item = order.items.get()
    assert (item.price_kind, item.unit_price_fen, item.flash_offer_id) == ("normal", 1_990, None)
    offer.refresh_from_db()
    assert offer.sold_count == 0


# --- admin ----------------------------------------------------------------------------


def test_ops_approve_and_reject_with_a_reason_in_admin(admin_client, seller):
    staff, sku = seller
    other = SkuFactory(product__merchant=staff.merchant, price_fen=2_990)
    good = flash_offer_propose(merchant_id=sku.merchant_id, proposer=staff.user, **_service_terms(sku))
    bad = flash_offer_propose(merchant_id=sku.merchant_id, proposer=staff.user, **_service_terms(other))
    assert admin_client.get("/admin/orders/flashoffer/?status__exact=pending_review").status_code == 200

    approved = admin_client.post(
        "/admin/orders/flashoffer/", {"action": "approve", ACTION_CHECKBOX_NAME: [good.pk]}
    )
    entries = AuditEntry.objects.count()
    again = admin_client.post(
        "/admin/orders/flashoffer/", {"action": "approve", ACTION_CHECKBOX_NAME: [good.pk]}
    )
    assert AuditEntry.objects.count() == entries  # approving it again decides nothing
    asked = admin_client.post(
        "/admin/orders/flashoffer/", {"action": "reject", ACTION_CHECKBOX_NAME: [bad.pk]}
    )
    rejected = admin_client.post(
        "/admin/orders/flashoffer/",
        {"action": "reject", ACTION_CHECKBOX_NAME: [bad.pk], "apply": "1", "reason": "价格不是真实折扣"},
    )

    assert approved.status_code == again.status_code == 302  # approving it again decides nothing
    assert asked.status_code == 200
    assert b"reason" in asked.content
    assert rejected.status_code == 302
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == "approved"
    assert good.reviewed_at is not None
    assert (bad.status, bad.rejection_reason) == ("rejected", "价格不是真实折扣")
    assert list(
        AuditEntry.objects.order_by("id").values_list("action", "object_id", "actor_name", "reason")
    ) == [
        ("flash_offer.approve", str(good.pk), "admin", ""),
        ("flash_offer.reject", str(bad.pk), "admin", "价格不是真实折扣"),  # the asking page recorded nothing
    ]


def test_an_offer_ops_add_in_admin_is_approved(admin_client):
    sku = SkuFactory(price_fen=2_000)
    now = timezone.now()

    added = admin_client.post(
        "/admin/orders/flashoffer/add/",
        {
            "sku": sku.pk,
            "flash_price_fen": 990,
            "starts_at_0": now.date().isoformat(),
            "starts_at_1": "00:00:00",
            "ends_at_0": (now + timedelta(days=2)).date().isoformat(),
            "ends_at_1": "00:00:00",
            "quantity": 10,
            "per_user_limit": 1,
        },
    )

    assert added.status_code == 302, added.content
    offer = FlashOffer.objects.get()
    assert offer.status == "approved"
    assert offer.reviewed_by is not None
    entry = AuditEntry.objects.get()  # ops' own offer sells without review: a recorded decision
    assert (entry.action, entry.object_id, entry.actor_name) == ("flash_offer.create", str(offer.pk), "admin")
    assert entry.details["changed"]["sku"] == sku.pk
    assert entry.details["changed"]["flash_price_fen"] == 990


# --- what members see -------------------------------------------------------------------


def test_members_see_the_stores_approved_live_and_coming_offers_only(make_client):
    store, _, (member,) = make_store(members=1)
    now = timezone.now()
    live = flash_offer(sku=SkuFactory(), now=now, quantity=10)
    live.sold_count = 3
    live.save(update_fields=["sold_count"])
    coming = flash_offer(
        sku=SkuFactory(), starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=3)
    )
    flash_offer(sku=SkuFactory(), now=now, status="pending_review")
    flash_offer(sku=SkuFactory(), now=now, status="rejected")
    flash_offer(sku=SkuFactory(), starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1))
    flash_offer(sku=SkuFactory(product__status=Product.Status.OFF_SALE), now=now)

    seen = make_client(member).get(f"/api/v1/stores/{store.pk}/flash-offers")

    assert seen.status_code == 200, seen.content
    rows = seen.json()["results"]
    assert [r["id"] for r in rows] == [live.pk, coming.pk]
    assert rows[0]["units_left"] == 7
    assert set(rows[0]) == {
        "id",
        "sku_id",
        "product_id",
        "flash_price_fen",
        "units_left",
        "per_buyer_limit",
        "starts_at",
        "ends_at",
    }
    assert make_client(store.owner).get(f"/api/v1/stores/{store.pk}/flash-offers").status_code == 200


def test_a_stranger_is_told_the_store_does_not_exist(make_client):
    store, _, _ = make_store(members=1)
    from accounts.tests.factories import UserFactory

    refused = make_client(UserFactory()).get(f"/api/v1/stores/{store.pk}/flash-offers")

    assert refused.status_code == 404
    assert make_client(None).get(f"/api/v1/stores/{store.pk}/flash-offers").status_code == 401


# --- the product page --------------------------------------------------------------------


def _page_prices(client, sku, **params):
    page = client.get(f"/api/v1/products/{sku.product_id}", params)
    assert page.status_code == 200, page.content
    return {s["id"]: s["flash_price_fen"] for s in page.json()["skus"]}


def test_the_product_page_shows_the_price_checkout_would_charge_the_caller(make_client, settings):
    from accounts.tests.factories import UserFactory

    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 10_000}
    store, _, (member,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990)
    pending_sku = SkuFactory(product=sku.product, price_fen=1_990)
    flash_offer(sku=sku, price_fen=990)
    flash_offer(sku=pending_sku, price_fen=990, status="pending_review")
    as_member = make_client(member)

    # not unlocked yet: no flash price for anyone, and checkout agrees
    assert _page_prices(as_member, sku, store_id=store.pk) == {sku.pk: None, pending_sku.pk: None}
    assert _quote(member, store, sku).lines[0].price_kind == "normal"

    unlock_flash(settings)
    assert _page_prices(as_member, sku, store_id=store.pk) == {sku.pk: 990, pending_sku.pk: None}
    assert _quote(member, store, sku).lines[0].unit_price_fen == 990
    # without a store, for a stranger, without a token, or through another store: null
    assert _page_prices(as_member, sku) == {sku.pk: None, pending_sku.pk: None}
    assert _page_prices(make_client(UserFactory()), sku, store_id=store.pk)[sku.pk] is None
    assert _page_prices(make_client(None), sku, store_id=store.pk)[sku.pk] is None
    other_store, _, _ = make_store(members=1)
    assert _page_prices(as_member, sku, store_id=other_store.pk)[sku.pk] is None


def test_a_bad_store_id_on_the_product_page_is_400(make_client):
    sku = SkuFactory()

    assert make_client(None).get(f"/api/v1/products/{sku.product_id}", {"store_id": "x"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_proposals_at_once_leave_exactly_one_offer():
    from shop.testing.concurrency import run_concurrently

    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, on_hand=100)
    terms = _service_terms(sku)

    results = run_concurrently(
        lambda i: flash_offer_propose(
            merchant_id=sku.merchant_id, proposer=None, **{**terms, "flash_price_fen": 900 + i}
        ),
        times=4,
    )

    made = [r for r in results if isinstance(r, FlashOffer)]
    assert len(made) == 1, results
    assert sum(isinstance(r, FlashOfferOverlaps) for r in results) == 3, results
    assert FlashOffer.objects.filter(sku=sku).count() == 1


def test_the_product_page_looks_the_token_up_only_when_store_id_asks(django_assert_num_queries):
    from rest_framework.test import APIClient

    sku = SkuFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    with django_assert_num_queries(2):  # the product and its SKUs: no token lookup
        public = client.get(f"/api/v1/products/{sku.product_id}")
    refused = client.get(f"/api/v1/products/{sku.product_id}", {"store_id": 1})

    assert public.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_ops_cannot_add_an_offer_overlapping_an_approved_one_in_admin(admin_client):
    sku = SkuFactory(price_fen=2_000)
    existing = flash_offer(sku=sku)  # live now, for an hour
    now = timezone.localtime()

    refused = admin_client.post(
        "/admin/orders/flashoffer/add/",
        {
            "sku": sku.pk,
            "flash_price_fen": 990,
            "starts_at_0": now.date().isoformat(),
            "starts_at_1": "00:00:00",
            "ends_at_0": (now + timedelta(days=2)).date().isoformat(),
            "ends_at_1": "00:00:00",
            "quantity": 10,
            "per_user_limit": 1,
        },
    )

    assert refused.status_code == 200
    assert b"overlaps this window" in refused.content
    assert list(FlashOffer.objects.values_list("pk", flat=True)) == [existing.pk]


def test_the_admin_saving_service_refuses_an_overlap_the_form_did_not_see(seller):
    from orders.services.flash_offers import flash_offer_ops_save

    _, sku = seller
    live = flash_offer(sku=sku)
    added_meanwhile = FlashOffer(
        sku=sku,
        flash_price_fen=900,
        starts_at=live.starts_at,
        ends_at=live.ends_at,
        quantity=5,
        per_user_limit=1,
    )

    with pytest.raises(FlashOfferOverlaps):
        flash_offer_ops_save(offer=added_meanwhile, reviewer=None)

    assert FlashOffer.objects.filter(sku=sku).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_offers_approved_at_once_leave_exactly_one_approved():
    from shop.testing.concurrency import run_concurrently

    sku = SkuFactory(price_fen=1_990, on_hand=100)
    start = timezone.now() + timedelta(hours=1)
    window = {"starts_at": start, "ends_at": start + timedelta(hours=2), "status": "pending_review"}
    # Two waiting offers of one SKU overlapping (older data, or edited in admin since).
    offers = [flash_offer(sku=sku, price_fen=900 + i, **window) for i in range(2)]

    results = run_concurrently(
        lambda i: flash_offer_review(offer_id=offers[i].pk, approve=True, reviewer=None), times=2
    )

    assert sum(isinstance(r, FlashOfferOverlaps) for r in results) == 1, results
    assert FlashOffer.objects.filter(sku=sku, status="approved").count() == 1


def test_an_edit_in_admin_keeps_the_units_sold_and_the_status_as_they_are_now(seller):
    from orders.services.flash_offers import flash_offer_ops_save

    _, sku = seller
    offer = flash_offer(sku=sku, quantity=10)
    loaded = FlashOffer.objects.get(pk=offer.pk)  # the admin's form, loaded before a sale
    FlashOffer.objects.filter(pk=offer.pk).update(sold_count=4)  # checkouts meanwhile

    loaded.quantity = 20
    flash_offer_ops_save(offer=loaded, reviewer=None)

    offer.refresh_from_db()
    assert (offer.quantity, offer.sold_count, offer.status) == (20, 4, "approved")


def test_an_edit_in_admin_cannot_cap_below_what_sold_meanwhile(seller):
    from orders.services.flash_offers import flash_offer_ops_save

    _, sku = seller
    offer = flash_offer(sku=sku, quantity=10)
    loaded = FlashOffer.objects.get(pk=offer.pk)
    FlashOffer.objects.filter(pk=offer.pk).update(sold_count=6)

    loaded.quantity = 5
    with pytest.raises(ValidationFailed):
        flash_offer_ops_save(offer=loaded, reviewer=None)

    offer.refresh_from_db()
    assert (offer.quantity, offer.sold_count) == (10, 6)
