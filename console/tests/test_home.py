"""The home page: what needs doing today, from each app's selector, shown by role."""

from __future__ import annotations

from datetime import date

import pytest

from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from orders.selectors import merchant_after_sales_due, merchant_orders_to_ship
from products.selectors import LOW_STOCK_UNITS, sku_low_stock_for_merchant
from rebates.selectors import statement_money_summary

from .helpers import busy_shop, console_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return busy_shop()


def test_the_selectors_count_what_needs_doing(shop):
    staff, respond_by = shop
    merchant_id = staff.merchant_id
    assert merchant_orders_to_ship(merchant_id=merchant_id)["count"] == 2
    count, cases = merchant_after_sales_due(merchant_id=merchant_id)
    assert count == 1
    assert cases[0]["deadline"] == respond_by
    low = sku_low_stock_for_merchant(merchant_id=merchant_id)
    assert [row["code"] for row in low] == ["LOW-3"]  # the off-sale SKU is not "running out"
    assert low[0]["available"] == 3 <= LOW_STOCK_UNITS
    money = statement_money_summary(merchant_id=merchant_id, viewer=staff.user)
    assert money["closing_fen"] == 40_000
    assert money["held_fen"] == 990
    assert money["released_fen"] == 12_000
    assert money["released_days_fen"] == 19_000
    assert money["days"] == 2  # two statements so far, of the 7 asked for


def test_an_after_sales_count_beyond_the_list_is_the_full_count(shop):
    staff, _ = shop
    count, cases = merchant_after_sales_due(merchant_id=staff.merchant_id, limit=1)
    assert (count, len(cases)) == (1, 1)
    assert merchant_after_sales_due(merchant_id=staff.merchant_id, limit=0) == (1, [])


def test_the_owner_sees_every_part(client, shop):
    staff, _ = shop
    console_login(client, staff.user)
    client.cookies["console_lang"] = "en"
    body = client.get("/console/").content.decode()
    for part in ('id="to-ship"', 'id="after-sales"', 'id="low-stock"', 'id="deposit"', 'id="money"'):
        assert part in body, part
    assert "LOW-3" in body
    assert "OFF-SALE-EMPTY" not in body
    assert "¥3,000.00 short" in body or "¥3000.00 short" in body  # 生鲜 needs ¥5,000, ¥2,000 paid
    assert "¥400.00" in body  # still frozen
    assert "¥190.00" in body  # released over the last statements
    assert 'id="conversations"' in body  # the marked place for the assistant, no data


def test_finance_sees_money_and_deposit_but_not_orders_or_stock(client, shop):
    staff, _ = shop
    finance = MerchantStaffFactory(merchant=staff.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, finance.user)
    body = client.get("/console/").content.decode()
    assert 'id="money"' in body
    assert 'id="deposit"' in body
    assert 'id="to-ship"' not in body
    assert 'id="low-stock"' not in body
    assert 'id="after-sales"' not in body


def test_an_operator_sees_orders_and_stock_but_not_money(client, shop):
    staff, _ = shop
    operator = MerchantStaffFactory(merchant=staff.merchant, role=MerchantStaff.Role.OPERATOR)
    console_login(client, operator.user)
    body = client.get("/console/").content.decode()
    assert 'id="to-ship"' in body
    assert 'id="low-stock"' in body
    assert 'id="money"' not in body


def test_another_merchants_figures_are_not_shown(client, shop):
    other = MerchantStaffFactory()
    console_login(client, other.user)
    client.cookies["console_lang"] = "en"
    body = client.get("/console/").content.decode()
    assert "LOW-3" not in body
    assert "No daily statement yet" in body


def test_the_home_page_shows_no_buyer_phone_or_address(client, shop):
    staff, _ = shop
    console_login(client, staff.user)
    body = client.get("/console/").content.decode()
    assert "13800138000" not in body
    assert "世纪大道" not in body


def test_the_home_page_is_chinese_by_default_and_english_on_request(client, shop):
    staff, _ = shop
    console_login(client, staff.user)
    chinese = client.get("/console/")
    assert "今日待办" in chinese.content.decode()
    assert chinese["Content-Language"] == "zh-hans"
    response = client.post("/console/language", {"language": "en", "next": "/console/"})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    english = client.get("/console/").content.decode()
    assert '<html lang="en">' in english
    assert "Today" in english
    assert "今日待办" not in english


def test_the_console_language_does_not_leak_into_the_api_or_admin(client, shop):
    staff, _ = shop
    console_login(client, staff.user)
    client.get("/console/")
    response = client.get("/api/v1/merchant/orders/1/ship")  # any API answer
    assert response.get("Content-Language", "en") != "zh-hans"
    from django.utils import translation

    assert translation.get_language() == "en"


def test_the_language_switch_refuses_other_languages_and_outside_pages(client, shop):
    assert client.post("/console/language", {"language": "fr"}).status_code == 400
    response = client.post("/console/language", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/console/"


def test_the_statement_days_are_dates(shop):
    staff, _ = shop
    money = statement_money_summary(merchant_id=staff.merchant_id, viewer=staff.user)
    assert isinstance(money["date"], date)


def test_the_htmx_refresh_gets_the_figures_and_an_ended_session_is_sent_to_sign_in(client, shop):
    staff, _ = shop
    console_login(client, staff.user)
    refreshed = client.get("/console/", headers={"HX-Request": "true"})
    assert refreshed.status_code == 200
    assert 'id="today"' in refreshed.content.decode()
    client.post("/console/signout")
    ended = client.get("/console/", headers={"HX-Request": "true"})
    assert ended.status_code == 204
    assert ended["HX-Redirect"].startswith("/console/signin")
