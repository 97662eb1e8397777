"""The merchant console's stock and shipping flow in a real browser (issue 16): a signed-in
merchant uploads a stock file with one bad row and sees that row, downloads the shipping
list, fills in tracking numbers (one of them wrong) and uploads it back, and sees the failed
row. Screenshots go to ``var/artifacts/browser/console-*.png``.

The browser is signed in by a session made with ``force_login`` whose cookie is set in the
browser (the console's sandbox sign-in form is another engineer's part; once it lands this
can sign in through it).
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.tests.helpers import buy_paid
from products.tests.factories import CategoryFactory, ProductFactory, SkuFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(browser, live_server, user) -> None:
    """Give the browser a console session of ``user``."""
    client = Client()
    user.refresh_from_db()
    client.force_login(user)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/console/signin")  # a page of the site, so the cookie can be set
    browser.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    )


def _wait_for_file(folder: Path, pattern: str, timeout: float = 15) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {pattern} downloaded into {folder}")


def test_merchant_uploads_stock_downloads_the_shipping_list_and_uploads_tracking_numbers(
    live_server, browser, artifacts_dir, tmp_path
):
    staff = MerchantStaffFactory(merchant__company_name="好物商贸有限公司")
    category = CategoryFactory(name="纸品", deposit_fen=0)
    staff.merchant.categories.add(category)
    product = ProductFactory(merchant=staff.merchant, category=category, title="维达抽纸 3层100抽")
    sku24 = SkuFactory(product=product, code="VD-24", on_hand=10, spec={"规格": "24包"})
    sku12 = SkuFactory(product=product, code="VD-12", on_hand=10, spec={"规格": "12包"})
    store, _, (buyer_a, buyer_b) = make_store(members=2)
    first = buy_paid(buyer=buyer_a, store=store, sku=sku24)
    second = buy_paid(buyer=buyer_b, store=store, sku=sku12, qty=2)

    sign_in(browser, live_server, staff.user)
    wait = WebDriverWait(browser, 20)

    # 1. A stock file with one bad row: the good rows apply, the bad one is shown.
    stock_file = tmp_path / "stock.csv"
    stock_file.write_text("sku_code,stock\nVD-24,120\nVD-99,5\nVD-12,80\n", encoding="utf-8")
    browser.get(f"{live_server.url}/console/stock")
    browser.find_element(By.NAME, "file").send_keys(str(stock_file))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
    table = wait.until(ec.presence_of_element_located((By.ID, "bad-rows")))
    assert "3" in table.text
    assert "No SKU of yours has the code 'VD-99'." in table.text
    assert browser.find_element(By.ID, "count-applied").text == "2"
    browser.save_screenshot(str(artifacts_dir / "console-01-stock-upload-bad-row.png"))
    sku24.refresh_from_db(), sku12.refresh_from_db()
    assert (sku24.on_hand, sku12.on_hand) == (120, 80)  # absolute: what the file says

    # 2. The shipping list, downloaded by clicking its link.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.get(f"{live_server.url}/console/orders")
    wait.until(ec.presence_of_element_located((By.ID, "orders")))
    browser.save_screenshot(str(artifacts_dir / "console-02-orders.png"))
    browser.find_element(By.ID, "shipping-list-csv").click()
    rows = list(
        csv.reader(io.StringIO(_wait_for_file(downloads, "shipping-list-*.csv").read_text("utf-8-sig")))
    )
    assert rows[0][:3] == ["order_no", "carrier", "tracking_no"]
    assert [row[0] for row in rows[1:]] == [str(first.pk), str(second.pk)]
    assert rows[1][rows[0].index("recipient")] == "张三"

    # 3. Tracking numbers filled into that file, one of them wrong, uploaded back.
    rows[1][1:3] = ["顺丰", "SF1234567890"]
    rows[2][1:3] = ["中通", "ZT 12"]  # a space and too short: refused
    tracking_file = tmp_path / "tracking.csv"
    with tracking_file.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(rows)
    browser.get(f"{live_server.url}/console/orders/tracking")
    browser.find_element(By.NAME, "file").send_keys(str(tracking_file))
    browser.find_element(By.CSS_SELECTOR, "main form[enctype] button").click()
    failed = wait.until(ec.presence_of_element_located((By.ID, "failed-rows")))
    assert str(second.pk) in failed.text
    assert "The tracking number must be 4 to 64 letters, digits or dashes." in failed.text
    assert browser.find_element(By.ID, "count-shipped").text == "1"
    browser.save_screenshot(str(artifacts_dir / "console-03-tracking-upload-failed-row.png"))

    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, first.tracking_no) == (Order.Status.SHIPPED, "SF1234567890")
    assert second.status == Order.Status.PAID

    # 4. The order page shows the shipment.
    browser.get(f"{live_server.url}/console/orders/{first.pk}")
    assert wait.until(ec.presence_of_element_located((By.ID, "tracking-no"))).text == "SF1234567890"
    browser.save_screenshot(str(artifacts_dir / "console-04-order-shipped.png"))
