"""The after-sales pages: the merchant's cases with their deadlines, approving, rejecting and
confirming a return — through the same services as the API; someone else's case is a 404."""

from __future__ import annotations

import pytest
from django.utils import timezone

from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.models import AfterSale
from orders.services.after_sales import after_sale_post_return
from shop.payments.models import Refund

from .fixtures import open_case, staff_of
from .helpers import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(client):
    """These tests read the English messages (the console speaks Chinese by default)."""
    client.cookies["console_lang"] = "en"


LIST = "/console/after-sales"


@pytest.fixture
def case():
    return open_case()


@pytest.fixture
def operator(client, case):
    staff = staff_of(case.merchant, MerchantStaff.Role.OPERATOR)
    console_login(client, staff.user)
    return staff


def test_the_list_shows_the_merchants_cases_with_the_deadline_to_answer(client, operator, case):
    other = open_case(reason="别人家的")

    page = client.get(LIST)

    assert page.status_code == 200
    html = page.content.decode()
    for shown in (f"#{case.pk}", "少发了一件", "¥19.90"):
        assert shown in html
    assert timezone.localtime(case.respond_by).strftime("%Y-%m-%d %H:%M") in html
    assert f"#{other.pk}" not in html
    assert "别人家的" not in html


def test_the_list_filters_by_status_and_ignores_an_unknown_one(client, operator, case):
    assert f"#{case.pk}" not in client.get(LIST, {"status": "refunded"}).content.decode()
    assert f"#{case.pk}" in client.get(LIST, {"status": "requested"}).content.decode()
    assert client.get(LIST, {"status": "nonsense"}).status_code == 200


def test_approving_a_refund_case_refunds_it_once(client, operator, case):
    response = client.post(f"{LIST}/{case.pk}/approve", {"reason": "抱歉"})

    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.merchant_note, case.refunded_fen) == ("refunded", "抱歉", 1_990)
    assert case.decided_by_id == operator.user_id
    page = client.get(response["Location"]).content.decode()
    assert "Case approved." in page
    assert client.post(f"{LIST}/{case.pk}/approve").status_code == 302  # twice: a no-op
    assert Refund.objects.filter(payment__pk=case.order.payment_id).count() == 1


def test_rejecting_keeps_the_reason_and_gives_the_buyer_time_to_ask_ops(client, operator, case):
    assert client.post(f"{LIST}/{case.pk}/reject", {"reason": "商品已签收且完好"}).status_code == 302

    case.refresh_from_db()
    assert (case.status, case.merchant_note) == ("rejected", "商品已签收且完好")
    assert case.escalate_by is not None
    assert not Refund.objects.exists()


def test_a_reason_longer_than_the_api_allows_shows_the_form_again_and_changes_nothing(client, operator, case):
    response = client.post(f"{LIST}/{case.pk}/reject", {"reason": "太" * 256})

    assert response.status_code == 400
    assert "Ensure this field has no more than 255 characters." in response.content.decode()
    case.refresh_from_db()
    assert case.status == "requested"


def test_a_return_waits_for_the_goods_and_is_refunded_when_they_arrive(client, operator):
    case = open_case(merchant=operator.merchant, kind=AfterSale.Kind.RETURN_REFUND)
    type(operator.merchant).objects.filter(pk=operator.merchant_id).update(
        return_address={"name": "退货仓", "phone": "021-0000", "detail": "仓库路1号"}
    )

    assert client.post(f"{LIST}/{case.pk}/approve").status_code == 302
    case.refresh_from_db()
    assert case.status == "awaiting_return"
    assert "Goods received" not in client.get(f"{LIST}/{case.pk}").content.decode()

    after_sale_post_return(case_id=case.pk, buyer=case.buyer, carrier="SF", tracking_no="SF123")
    detail = client.get(f"{LIST}/{case.pk}").content.decode()
    assert "SF123" in detail
    assert "Goods received" in detail

    assert client.post(f"{LIST}/{case.pk}/received").status_code == 302
    case.refresh_from_db()
    assert (case.status, case.refunded_fen) == ("refunded", 1_990)


def test_confirming_a_return_that_was_not_sent_is_refused_with_the_reason(client, operator, case):
    response = client.post(f"{LIST}/{case.pk}/received")

    assert response.status_code == 409
    assert "Only a return the buyer has sent back can be received." in response.content.decode()
    case.refresh_from_db()
    assert case.status == "requested"


def test_approving_a_return_without_a_return_address_is_refused(client, operator):
    case = open_case(merchant=operator.merchant, kind=AfterSale.Kind.RETURN_REFUND)

    response = client.post(f"{LIST}/{case.pk}/approve")

    assert response.status_code == 409
    case.refresh_from_db()
    assert case.status == "requested"


def test_another_merchants_case_is_not_found_and_not_touched(client, operator):
    other = open_case()

    assert client.get(f"{LIST}/{other.pk}").status_code == 404
    for action in ("approve", "reject", "received"):
        assert client.post(f"{LIST}/{other.pk}/{action}", {"reason": "x"}).status_code == 404
    assert client.get(f"{LIST}/{10**30}").status_code == 404
    other.refresh_from_db()
    assert other.status == "requested"


def test_the_case_page_shows_no_buyer_phone_or_address(client, operator, case):
    html = client.get(f"{LIST}/{case.pk}").content.decode()

    assert "13800138000" not in html
    assert "世纪大道" not in html
    assert case.order.address  # the order has them; the page does not show them


def test_finance_staff_may_not_answer_cases(client, case):
    finance = MerchantStaffFactory(merchant=case.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, finance.user)

    assert client.get(LIST).status_code == 403
    assert client.post(f"{LIST}/{case.pk}/approve").status_code == 403
    case.refresh_from_db()
    assert case.status == "requested"


def test_a_visitor_who_is_not_staff_is_sent_to_sign_in(client, case):
    for url in (LIST, f"{LIST}/{case.pk}"):
        assert client.get(url)["Location"].startswith("/console/signin")
    assert client.post(f"{LIST}/{case.pk}/approve")["Location"].startswith("/console/signin")
    case.refresh_from_db()
    assert case.status == "requested"


def test_answering_needs_the_csrf_token(case):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    staff = staff_of(case.merchant, MerchantStaff.Role.OPERATOR)
    console_login(client, staff.user)

    assert client.post(f"{LIST}/{case.pk}/approve").status_code == 403
    case.refresh_from_db()
    assert case.status == "requested"


def test_each_state_names_the_deadline_it_waits_on_and_whose_it_is(case):
    from datetime import timedelta

    from console.pages.after_sales import case_deadline

    later = timezone.now() + timedelta(days=1)
    expected = {
        "requested": ("respond_by", True),
        "awaiting_return": ("return_by", False),
        "return_shipped": ("refund_by", True),
        "rejected": ("escalate_by", False),
    }
    for status, (field, ours) in expected.items():
        case.status = status
        setattr(case, field, later)
        assert case_deadline(case) == {"at": later, "ours": ours}, status
    for status in ("refunded", "closed", "disputed"):
        case.status = status
        assert case_deadline(case) is None, status
