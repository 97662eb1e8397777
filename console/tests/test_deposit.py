"""The deposit page: coverage per category, movements, and paying in through a QR code of
the gateway's ``code_url`` (the API's service and amount rule); someone else's payment 404."""

from __future__ import annotations

import base64

import pytest

from merchants.models import DepositMovement, Merchant, MerchantStaff
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from orders.tests.helpers import sandbox_pay
from products.tests.factories import CategoryFactory
from shop.payments.models import Payment

from ..qr import qr_svg
from .helpers import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(client):
    """These tests read the English messages (the console speaks Chinese by default)."""
    client.cookies["console_lang"] = "en"


PAGE = "/console/deposit"


@pytest.fixture
def finance(client):
    owner = MerchantStaffFactory()
    merchant = owner.merchant
    merchant.categories.add(
        CategoryFactory(name="生鲜", deposit_fen=500_000),
        CategoryFactory(name="日用百货", deposit_fen=200_000),
    )
    pay_deposit(merchant, 300_000, payer=owner.user)
    staff = MerchantStaffFactory(merchant=merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, staff.user)
    return staff


def test_the_page_shows_the_balance_coverage_per_category_and_movements(client, finance):
    response = client.get(PAGE)

    assert response.status_code == 200
    coverage = {c.name: (c.covered, c.shortfall_fen) for c in response.context["coverage"].categories}
    assert coverage == {"生鲜": (False, 200_000), "日用百货": (True, 0)}
    html = response.content.decode()
    assert "¥3000.00" in html  # the balance, and the movement's balance after
    assert "¥2000.00" in html  # what 生鲜 misses
    assert "Deposit payment" in html  # the movement's reason
    assert [m.kind for m in response.context["page"].object_list] == [DepositMovement.Kind.PAID]


def test_paying_shows_a_qr_code_of_the_gateways_code_url_until_paid(client, finance):
    response = client.post(f"{PAGE}/pay", {"amount_fen": "200000"})

    payment = Payment.objects.get(amount_fen=200_000)
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}/payments/{payment.pk}"
    assert (payment.payer_id, payment.ref_id, payment.status) == (
        finance.user_id,
        finance.merchant_id,
        "created",
    )
    page = client.get(response["Location"])
    expected = qr_svg(f"sandbox://pay/{payment.pk}?out_trade_no={payment.out_trade_no}")
    assert page.context["qr"] == "data:image/svg+xml;base64," + base64.b64encode(expected).decode()
    assert 'id="payment-qr"' in page.content.decode()
    status = client.get(f"{PAGE}/payments/{payment.pk}/status").content.decode()
    assert 'hx-trigger="every 3s"' in status

    sandbox_pay(payment)

    status = client.get(f"{PAGE}/payments/{payment.pk}/status").content.decode()
    assert "Paid" in status
    assert "hx-trigger" not in status  # polling stops
    assert 'id="payment-qr"' not in client.get(f"{PAGE}/payments/{payment.pk}").content.decode()
    assert client.get(PAGE).context["coverage"].balance_fen == 500_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("99", "Ensure this value is greater than or equal to 100."),
        ("100000001", "Ensure this value is less than or equal to 100000000."),
        ("12.5", "A valid integer is required."),
        ("", "A valid integer is required."),
    ],
)
def test_a_bad_amount_shows_the_apis_message_and_creates_no_payment(client, finance, amount, message):
    before = Payment.objects.count()

    response = client.post(f"{PAGE}/pay", {"amount_fen": amount})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Payment.objects.count() == before


def test_a_leaving_merchant_may_not_pay_and_is_told_why(client, finance):
    Merchant.objects.filter(pk=finance.merchant_id).update(status=Merchant.Status.EXITING)
    before = Payment.objects.count()

    response = client.post(f"{PAGE}/pay", {"amount_fen": "10000"})

    assert response.status_code == 409
    assert "Only an approved merchant pays a deposit." in response.content.decode()
    assert Payment.objects.count() == before


def test_another_merchants_payment_is_not_found(client, finance):
    other = MerchantStaffFactory()
    theirs = pay_deposit(other.merchant, 10_000, payer=other.user)

    assert client.get(f"{PAGE}/payments/{theirs.pk}").status_code == 404
    assert client.get(f"{PAGE}/payments/{theirs.pk}/status").status_code == 404


def test_an_operator_may_not_see_or_pay_the_deposit(client, finance):
    operator = MerchantStaffFactory(merchant=finance.merchant, role=MerchantStaff.Role.OPERATOR)
    console_login(client, operator.user)
    before = Payment.objects.count()

    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}/pay", {"amount_fen": "10000"}).status_code == 403
    assert Payment.objects.count() == before


def test_a_visitor_who_is_not_staff_is_sent_to_sign_in(finance):
    from django.test import Client

    anonymous = Client()
    assert anonymous.get(PAGE)["Location"].startswith("/console/signin")
    assert anonymous.post(f"{PAGE}/pay", {"amount_fen": "10000"})["Location"].startswith("/console/signin")
