"""A merchant's staff in the console, in a real browser (issue 16): answer an after-sales
case and download a statement. Screenshots under ``var/artifacts/browser/console-*.png``."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from console.tests.fixtures import open_case
from merchants.tests.factories import MerchantStaffFactory
from rebates.models import MerchantStatement
from rebates.services.statements import merchant_statements_write
from rebates.statement_export import export_field
from rebates.tests.test_services_statements import D0, D1, D2, a_busy_day
from shop.payments.models import Refund

from .console_session import browser_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def merchant_owner(live_server, browser):
    staff = MerchantStaffFactory(merchant__company_name="好物优选商贸有限公司")
    browser_sign_in(browser, live_server.url, staff.user)
    return staff


def _wait(browser, css: str):
    return WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_a_merchant_answers_an_after_sales_case(live_server, browser, artifacts_dir, merchant_owner):
    case = open_case(merchant=merchant_owner.merchant, reason="收到的草莓压坏了两盒")

    browser.get(f"{live_server.url}/console/after-sales")
    row = _wait(browser, "table.list tbody tr")
    assert "收到的草莓压坏了两盒" in row.text
    browser.save_screenshot(str(artifacts_dir / "console-01-after-sales-list.png"))

    browser.find_element(By.LINK_TEXT, f"#{case.pk}").click()
    _wait(browser, "textarea[name=reason]").send_keys("抱歉，已为您退款")
    browser.save_screenshot(str(artifacts_dir / "console-02-after-sale-case.png"))
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()

    assert "Case approved." in _wait(browser, "ul.messages").text
    assert _wait(browser, "#case-status").text == "Refunded"
    browser.save_screenshot(str(artifacts_dir / "console-03-after-sale-approved.png"))
    case.refresh_from_db()
    assert (case.status, case.merchant_note, case.refunded_fen) == ("refunded", "抱歉，已为您退款", 1_990)
    assert Refund.objects.filter(payment_id=case.order.payment_id).count() == 1


def test_a_merchant_downloads_a_statement(live_server, browser, artifacts_dir, merchant_owner, tmp_path):
    other = MerchantStaffFactory()
    a_busy_day(merchant_owner.merchant_id, other.merchant_id)
    for day in (D0, D1, D2):
        merchant_statements_write(date=day)
    statement = MerchantStatement.objects.get(merchant=merchant_owner.merchant, date=D1)
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})

    browser.get(f"{live_server.url}/console/statements")
    _wait(browser, "table.list tbody tr")
    browser.save_screenshot(str(artifacts_dir / "console-04-statements.png"))
    browser.find_element(By.LINK_TEXT, str(D1)).click()
    _wait(browser, "#download-csv")
    browser.save_screenshot(str(artifacts_dir / "console-05-statement.png"))
    browser.find_element(By.ID, "download-csv").click()

    path = _downloaded(tmp_path, f"statement-{merchant_owner.merchant_id}-{D1}.csv")
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    summary = {export_field(row[0]): row[1] for row in rows[: rows.index([])]}
    assert int(summary["closing_fen"]) == statement.closing_fen
    assert int(summary["statement_id"]) == statement.pk
    assert len(rows) - rows.index([]) - 2 == statement.lines.count()


def _downloaded(folder: Path, name: str, timeout_s: float = 15) -> Path:
    deadline = time.monotonic() + timeout_s
    path = folder / name
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return path
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded: {sorted(p.name for p in folder.iterdir())}")


def test_a_merchant_pays_the_deposit_by_qr_code_and_proposes_a_flash_offer(
    live_server, browser, artifacts_dir, merchant_owner
):
    """The pages not in the issue's script, looked at once: the deposit's payment QR code and
    a flash-offer proposal refused with the API's message."""
    from products.tests.factories import CategoryFactory, SkuFactory

    merchant = merchant_owner.merchant
    merchant.categories.add(CategoryFactory(name="生鲜水果", deposit_fen=200_000))
    SkuFactory(product__merchant=merchant, product__title="丹东草莓 2 盒装", price_fen=5_990, on_hand=80)

    browser.get(f"{live_server.url}/console/deposit")
    _wait(browser, "input[name=amount_fen]").send_keys("200000")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/deposit/pay'] button").click()
    qr = _wait(browser, "#payment-qr")
    assert qr.size["width"] == 240
    assert "Waiting for the payment" in browser.find_element(By.ID, "payment-status").text
    browser.save_screenshot(str(artifacts_dir / "console-06-deposit-qr.png"))

    browser.get(f"{live_server.url}/console/flash-offers")
    _wait(browser, "select[name=sku_id] option:nth-child(2)").click()
    browser.find_element(By.NAME, "flash_price_fen").send_keys("6990")
    browser.find_element(By.NAME, "units").send_keys("500")
    browser.execute_script(
        "document.querySelector('[name=starts_at]').value = '2099-01-01T10:00';"
        "document.querySelector('[name=ends_at]').value = '2099-01-01T12:00';"
    )
    browser.find_element(By.CSS_SELECTOR, "form.propose button").click()
    errors = _wait(browser, "ul.errors").text
    assert "Must be above 0 and below the SKU's price (5990 fen)." in errors
    assert "Must be between 1 and the units available now (80)." in errors
    browser.save_screenshot(str(artifacts_dir / "console-07-flash-offer-refused.png"))
