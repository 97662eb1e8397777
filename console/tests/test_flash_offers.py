"""The flash-offer page: the merchant's offers with their review status and ops' reason, and
proposing one through the API's serializer and service (the same terms and messages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import FlashOffer
from orders.services.flash_offers import flash_offer_propose, flash_offer_review
from products.tests.factories import SkuFactory

from .helpers import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(client):
    """These tests read the English messages (the console speaks Chinese by default)."""
    client.cookies["console_lang"] = "en"


PAGE = "/console/flash-offers"


def _local(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def operator(client):
    staff = MerchantStaffFactory(role=MerchantStaff.Role.OPERATOR)
    console_login(client, staff.user)
    return staff


@pytest.fixture
def sku(operator):
    return SkuFactory(product__merchant=operator.merchant, price_fen=1_990, on_hand=100)


def _form(sku, **overrides) -> dict:
    start = timezone.now() + timedelta(days=1)
    form = {
        "sku_id": str(sku.pk),
        "flash_price_fen": "990",
        "units": "50",
        "per_buyer_limit": "2",
        "starts_at": _local(start),
        "ends_at": _local(start + timedelta(hours=6)),
    }
    return {**form, **overrides}


def test_proposing_an_offer_makes_it_wait_for_review(client, operator, sku):
    response = client.post(PAGE, _form(sku))

    assert response.status_code == 302
    offer = FlashOffer.objects.get()
    assert (offer.sku_id, offer.flash_price_fen, offer.quantity, offer.per_user_limit) == (sku.pk, 990, 50, 2)
    assert (offer.status, offer.proposed_by_id) == ("pending_review", operator.user_id)
    page = client.get(response["Location"]).content.decode()
    assert f"Flash offer #{offer.pk} proposed" in page
    assert "Waiting for review" in page


def test_the_list_shows_ops_reason_for_a_rejection_and_only_this_merchants_offers(client, operator, sku):
    start = timezone.now() + timedelta(days=2)
    offer = flash_offer_propose(
        merchant_id=operator.merchant_id,
        proposer=operator.user,
        sku_id=sku.pk,
        flash_price_fen=990,
        units=10,
        per_buyer_limit=1,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    flash_offer_review(offer_id=offer.pk, approve=False, reviewer=None, reason="价格低于成本，请调整")
    other_sku = SkuFactory(price_fen=5_000, on_hand=10)
    flash_offer_propose(
        merchant_id=other_sku.merchant_id,
        proposer=None,
        sku_id=other_sku.pk,
        flash_price_fen=4_000,
        units=5,
        per_buyer_limit=1,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )

    html = client.get(PAGE).content.decode()

    assert "价格低于成本，请调整" in html
    assert "Rejected" in html
    assert other_sku.product.title not in html
    assert "价格低于成本" not in client.get(PAGE, {"status": "approved"}).content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"flash_price_fen": "1990"}, "Must be above 0 and below the SKU&#x27;s price (1990 fen)."),
        ({"units": "101"}, "Must be between 1 and the units available now (100)."),
        ({"per_buyer_limit": "51"}, "Must be at least 1 and at most the units on offer."),
        ({"flash_price_fen": "abc"}, "A valid integer is required."),
        ({"starts_at": "tomorrow"}, "Datetime has wrong format."),
    ],
)
def test_bad_terms_show_the_form_again_with_the_apis_message(client, operator, sku, overrides, message):
    response = client.post(PAGE, _form(sku, **overrides))

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'value="{_form(sku, **overrides)["units"]}"' in html  # what was typed is kept
    assert not FlashOffer.objects.exists()


def test_a_start_in_the_past_is_refused(client, operator, sku):
    past = timezone.now() - timedelta(hours=1)
    response = client.post(
        PAGE, _form(sku, starts_at=_local(past), ends_at=_local(past + timedelta(hours=3)))
    )

    assert response.status_code == 400
    assert "Must be in the future." in response.content.decode()
    assert not FlashOffer.objects.exists()


def test_an_overlapping_offer_is_refused(client, operator, sku):
    assert client.post(PAGE, _form(sku)).status_code == 302

    response = client.post(PAGE, _form(sku, flash_price_fen="890"))

    assert response.status_code == 409
    assert FlashOffer.objects.count() == 1


def test_another_merchants_sku_is_not_found_and_nothing_is_proposed(client, operator):
    theirs = SkuFactory(price_fen=1_990, on_hand=100)

    response = client.post(PAGE, _form(theirs))

    assert response.status_code == 404
    assert not FlashOffer.objects.exists()
    assert f'value="{theirs.pk}"' not in client.get(PAGE).content.decode()  # not offered as a choice


def test_finance_staff_may_not_propose(client, sku):
    finance = MerchantStaffFactory(merchant=sku.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, finance.user)

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, _form(sku)).status_code == 403
    assert not FlashOffer.objects.exists()


def test_a_visitor_who_is_not_staff_is_sent_to_sign_in(sku):
    from django.test import Client

    anonymous = Client()
    assert anonymous.get(PAGE)["Location"].startswith("/console/signin")
    assert anonymous.post(PAGE, _form(sku))["Location"].startswith("/console/signin")
    assert not FlashOffer.objects.exists()


def test_the_default_chinese_console_shows_the_apis_messages_in_chinese(client, operator, sku):
    client.cookies.pop("console_lang")

    response = client.post(PAGE, _form(sku, units="abc"))

    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"
    assert "请填写合法的整数值。" in response.content.decode()
    assert not FlashOffer.objects.exists()
