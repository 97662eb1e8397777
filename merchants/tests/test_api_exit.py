"""``POST /merchant/exit`` reads its body: only ``{"confirm": "exit"}`` starts the exit;
``POST /merchant/exit/cancel`` withdraws it before the deposit refund starts (issue 19, item 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import Merchant
from merchants.services import deposit_refund_start, merchant_exit_request
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.models import Product
from products.tests.factories import ProductFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

EXIT = "/api/v1/merchant/exit"
CANCEL = "/api/v1/merchant/exit/cancel"

# What the attack run sent (and what else a client could get wrong): each was a 200 and an exit.
BAD_BODIES = [
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b"{", "application/json", id="broken-json"),
    pytest.param(b'{"confirm": "exit"', "application/json", id="truncated-json"),
    pytest.param(b"<confirm>exit</confirm>", "application/xml", id="xml"),
    pytest.param(b"<confirm>exit</confirm>", "application/json", id="xml-as-json"),
    pytest.param(b"confirm", "text/plain", id="text"),
    pytest.param(b"{}", "application/json", id="empty-object"),
    pytest.param(b"[]", "application/json", id="list"),
    pytest.param(b'"exit"', "application/json", id="bare-string"),
    pytest.param(b"null", "application/json", id="null"),
    pytest.param(b'{"confirm": "EXIT"}', "application/json", id="wrong-case"),
    pytest.param(b'{"confirm": "exit "}', "application/json", id="trailing-space"),
    pytest.param(b'{"confirm": true}', "application/json", id="true"),
    pytest.param(b'{"confirm": ["exit"]}', "application/json", id="list-value"),
    pytest.param(b'{"confirm": "delete"}', "application/json", id="another-word"),
    pytest.param(b'{"confirmation": "exit"}', "application/json", id="another-field"),
    pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "application/json", id="5000-deep"),
]


@pytest.fixture
def owner():
    staff = MerchantStaffFactory()
    ProductFactory(merchant=staff.merchant, status=Product.Status.ON_SALE)
    return staff


def _on_sale(merchant) -> int:
    return Product.objects.filter(merchant=merchant, status=Product.Status.ON_SALE).count()


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_exit_without_its_confirmation_is_a_400_and_changes_nothing(make_client, owner, body, content_type):
    response = make_client(owner.user).generic("POST", EXIT, body, content_type=content_type)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"confirmation_required", "parse_error"}
    owner.merchant.refresh_from_db()
    assert owner.merchant.status == Merchant.Status.APPROVED
    assert owner.merchant.exit_requested_at is None
    assert _on_sale(owner.merchant) == 1


def test_exit_with_its_confirmation_takes_listings_off_sale(make_client, owner):
    response = make_client(owner.user).post(EXIT, {"confirm": "exit"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "exiting"
    assert _on_sale(owner.merchant) == 0


def test_only_the_owner_may_exit_and_is_told_so_before_the_body(make_client, owner):
    operator = MerchantStaffFactory(merchant=owner.merchant, role="operator")

    assert_error(make_client(operator.user).post(EXIT, {"confirm": "exit"}, format="json"), 403)
    assert_error(make_client(operator.user).post(EXIT, b"{", content_type="application/json"), 403)
    assert_error(make_client(operator.user).post(CANCEL), 403, "not_merchant_owner")
    owner.merchant.refresh_from_db()
    assert owner.merchant.status == Merchant.Status.APPROVED


def test_cancel_withdraws_the_exit_and_repeating_it_is_a_no_op(make_client, owner):
    client = make_client(owner.user)
    client.post(EXIT, {"confirm": "exit"}, format="json")

    first = client.post(CANCEL)
    again = client.post(CANCEL)

    assert first.status_code == 200
    assert again.status_code == 200
    assert first.json()["status"] == "approved"
    assert first.json()["exit_requested_at"] is None
    owner.merchant.refresh_from_db()
    assert owner.merchant.status == Merchant.Status.APPROVED
    assert _on_sale(owner.merchant) == 0  # listings stay off sale: the merchant republishes them


def test_cancel_is_refused_once_the_exit_is_done(make_client, owner):
    merchant_exit_request(
        merchant_id=owner.merchant.pk, actor=owner.user, now=timezone.now() - timedelta(days=30)
    )
    assert deposit_refund_start(merchant_id=owner.merchant.pk) is None  # no deposit: closed at once

    response = make_client(owner.user).post(CANCEL)

    assert_error(response, 403, "not_merchant_staff")  # a closed merchant has no console
    owner.merchant.refresh_from_db()
    assert owner.merchant.status == Merchant.Status.CLOSED


def test_cancel_is_refused_while_the_deposit_refund_is_under_way(make_client, owner):
    pay_deposit(owner.merchant, 10_000, payer=owner.user)
    merchant_exit_request(
        merchant_id=owner.merchant.pk, actor=owner.user, now=timezone.now() - timedelta(days=30)
    )
    deposit_refund_start(merchant_id=owner.merchant.pk)  # not committed here: the part stays pending

    response = make_client(owner.user).post(CANCEL)

    assert_error(response, 409, "deposit_refund_in_progress")
    owner.merchant.refresh_from_db()
    assert owner.merchant.status == Merchant.Status.EXITING
