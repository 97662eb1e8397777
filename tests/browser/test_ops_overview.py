"""Ops open the admin index and see the overview's charts (issue 16, step 2), in headless
Chromium. A little business first — paid orders, a disputed case, a merchant short of its
deposit, an open reconciliation difference — so every panel has something to draw. The
screenshots go to ``var/artifacts/browser/ops-overview-*.png``."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantFactory, pay_deposit
from orders.models import AfterSale
from products.tests.factories import CategoryFactory, SkuFactory
from rebates.tests.helpers import make_paid_order
from shop.payments.models import BillImport, ReconciliationCase
from tests.browser.test_ops_admin import ops  # noqa: F401 - the logged-in ops fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _business() -> None:
    store, _, buyers = make_store(members=4, name="浦东宝妈团")
    sku = SkuFactory(price_fen=2_990, on_hand=50)
    orders = [make_paid_order(buyer=buyer, store=store, sku=sku, qty=1 + i) for i, buyer in enumerate(buyers)]
    AfterSale.objects.create(
        order=orders[0],
        buyer=orders[0].buyer,
        merchant=orders[0].merchant,
        kind="refund",
        status=AfterSale.Status.DISPUTED,
        amount_fen=2_990,
        reason="破损",
        decided_at=timezone.now(),  # when the buyer escalated (the service's last move)
    )
    category = CategoryFactory(name="家用电器", deposit_fen=500_000)
    short = MerchantFactory(company_name="保证金不足的商贸公司")
    short.categories.set([category])
    pay_deposit(short, 200_000)
    bill = BillImport.objects.create(gateway="sandbox", kind="trade", bill_date=date.today(), status="done")
    ReconciliationCase.objects.create(
        kind=ReconciliationCase.Kind.AMOUNT_DIFFERS,
        gateway="sandbox",
        bill_kind="trade",
        key="T1",
        bill_date=date.today(),
        bill_import=bill,
        our_amount_fen=2_990,
        bill_amount_fen=2_900,
    )


def test_ops_see_the_overview_charts_on_the_admin_index(ops, browser):  # noqa: F811
    _business()
    ops.go("/admin/?fresh=1")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.ID, "ops-overview")))
    charts = browser.find_elements(By.CSS_SELECTOR, "#ops-overview svg.ops-chart")
    assert len(charts) == 8
    assert all(
        chart.size["width"] > 300 and chart.size["height"] > 100 for chart in charts
    )  # drawn, not collapsed
    sales = browser.find_element(By.ID, "ops-sales").text
    assert "GMV today" in sales
    assert "¥" in sales
    assert "1" in browser.find_element(By.ID, "ops-after_sales").text
    assert "保证金不足的商贸公司" in browser.find_element(By.ID, "ops-deposits").text
    ops.shot("ops-overview-1-sales")
    for n, key in enumerate(("after_sales", "deposits", "reconciliation"), start=2):
        browser.execute_script("arguments[0].scrollIntoView();", browser.find_element(By.ID, f"ops-{key}"))
        ops.shot(f"ops-overview-{n}-{key}")
    # The app list is still there below the overview.
    assert browser.find_elements(By.CSS_SELECTOR, "#content-main .app-orders, #content-main caption")
