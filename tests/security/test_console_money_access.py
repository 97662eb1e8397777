"""The console's money pages (after-sales, deposit, statements, flash offers) against the
seeded world: the other merchant's staff get 404 for our objects and change nothing, a
signed-in shopper who is no merchant's staff and a visitor are sent to sign in, and our own
staff reach the object (so the refusals are not 404s for everyone)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from console.tests.helpers import console_login
from merchants.services import deposit_payment_create
from orders.models import AfterSale
from rebates.models import MerchantStatement
from shop.payments.models import Payment

pytestmark = pytest.mark.django_db

# (id, method, path template, rightful status); {w} is the world, {pay} our deposit payment.
PAGES = [
    ("after-sale", "get", "/console/after-sales/{w.case.pk}", 200),
    ("after-sale-approve", "post", "/console/after-sales/{w.case.pk}/approve", 302),
    ("after-sale-reject", "post", "/console/after-sales/{w.case.pk}/reject", 302),
    ("after-sale-received", "post", "/console/after-sales/{w.case.pk}/received", 409),
    ("statement", "get", "/console/statements/{w.statement.pk}", 200),
    ("statement-csv", "get", "/console/statements/{w.statement.pk}/download.csv", 200),
    ("statement-xlsx", "get", "/console/statements/{w.statement.pk}/download.xlsx", 200),
    ("deposit-payment", "get", "/console/deposit/payments/{pay.pk}", 200),
    ("deposit-payment-status", "get", "/console/deposit/payments/{pay.pk}/status", 200),
]
LISTS = ["/console/after-sales", "/console/statements", "/console/deposit", "/console/flash-offers"]


@pytest.fixture
def pay(world):
    with transaction.atomic():
        return deposit_payment_create(
            merchant=world.merchant, payer=world.merchant_user.user, amount_fen=10_000, gateway="sandbox"
        )


def _state(world, pay):
    return (
        list(AfterSale.objects.filter(pk=world.case.pk).values()),
        list(MerchantStatement.objects.filter(pk=world.statement.pk).values()),
        list(Payment.objects.filter(pk=pay.pk).values()),
    )


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        console_login(client, user)
    return client


@pytest.mark.parametrize(("name", "method", "path", "rightful"), PAGES, ids=[p[0] for p in PAGES])
def test_the_other_merchants_staff_get_404_and_nothing_changes(world, pay, name, method, path, rightful):
    before = _state(world, pay)

    response = getattr(_client(world.other_merchant_user.user), method)(path.format(w=world, pay=pay))

    assert response.status_code == 404
    assert _state(world, pay) == before


@pytest.mark.parametrize(("name", "method", "path", "rightful"), PAGES, ids=[p[0] for p in PAGES])
@pytest.mark.parametrize("who", ["shopper", None])
def test_a_shopper_or_a_visitor_is_sent_to_sign_in(world, pay, name, method, path, rightful, who):
    before = _state(world, pay)

    response = getattr(_client(getattr(world, who) if who else None), method)(path.format(w=world, pay=pay))

    assert response.status_code == 302
    assert response["Location"].startswith("/console/signin")
    assert _state(world, pay) == before


@pytest.mark.parametrize(("name", "method", "path", "rightful"), PAGES, ids=[p[0] for p in PAGES])
def test_our_own_staff_reach_the_object(world, pay, name, method, path, rightful):
    response = getattr(_client(world.merchant_user.user), method)(path.format(w=world, pay=pay))

    assert response.status_code == rightful


@pytest.mark.parametrize("path", LISTS)
def test_lists_show_only_our_own(world, pay, path):
    response = _client(world.other_merchant_user.user).get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'/console/after-sales/{world.case.pk}"' not in html
    assert f'/console/statements/{world.statement.pk}"' not in html
