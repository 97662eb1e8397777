"""The admin flows ops staff live in, end to end in a real browser (issue 7).

An ops superuser logs in to ``/admin/``, then: approves a merchant's application,
certifies a group leader, deducts from a merchant's deposit with a violation reason,
freezes a group store, rules on a disputed after-sales case and retries a failed
payout — each through the change list's action menu and, where the action asks, its
form. After each, the database says it happened, and a screenshot is kept under
``var/artifacts/browser/``.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from groupstore.models import Leader, Store
from groupstore.tests.factories import make_leader, make_store
from merchants.models import DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.tests.factories import MerchantFactory, pay_deposit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPS_PASSWORD = "ops-browser-test-pw"  # noqa: S105 - a throwaway superuser of the test database


@pytest.fixture
def ops(live_server, browser, artifacts_dir):
    User.objects.create_superuser(username="ops", password=OPS_PASSWORD, email="ops@example.com")
    browser.delete_all_cookies()

    class Ops:
        def go(self, path: str) -> None:
            browser.get(f"{live_server.url}{path}")

        def shot(self, name: str) -> None:
            browser.save_screenshot(str(artifacts_dir / f"{name}.png"))

        def message(self) -> str:
            wait = WebDriverWait(browser, 15)
            return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist"))).text

        def run_action(self, changelist: str, pk: int, action: str) -> None:
            """Tick one row of a change list, pick the action, press Go."""
            self.go(changelist)
            row = (By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]')
            WebDriverWait(browser, 15).until(ec.element_to_be_clickable(row)).click()
            Select(browser.find_element(By.NAME, "action")).select_by_value(action)
            browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()

        def fill(self, **fields: str) -> None:
            for name, value in fields.items():
                element = WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.NAME, name)))
                if element.tag_name == "select":
                    Select(element).select_by_value(value)
                else:
                    element.clear()
                    element.send_keys(value)

        def submit(self) -> None:
            browser.find_element(By.CSS_SELECTOR, 'input[name="apply"]').click()

    helper = Ops()
    helper.go("/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys(OPS_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()
    # Only a logged-in page has the user tools (the login page has the site name too).
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "user-tools")))
    assert "/admin/login/" not in browser.current_url
    helper.shot("00-logged-in")
    return helper


def test_ops_approves_a_merchant_application(ops):
    merchant = MerchantFactory(status=Merchant.Status.PENDING, company_name="待审核商贸有限公司")

    ops.run_action("/admin/merchants/merchant/?status__exact=pending", merchant.pk, "approve")

    assert "Approved 1 merchant" in ops.message()
    ops.shot("01-merchant-approved")
    merchant.refresh_from_db()
    assert merchant.status == Merchant.Status.APPROVED
    assert merchant.reviewed_by.username == "ops"


def test_ops_certifies_a_leader(ops):
    leader = make_leader(certified=False)
    assert leader.status != Leader.Status.CERTIFIED

    ops.run_action("/admin/groupstore/leader/", leader.pk, "certify")

    ops.message()
    ops.shot("02-leader-certified")
    leader.refresh_from_db()
    assert leader.status == Leader.Status.CERTIFIED


def test_ops_deducts_a_deposit_with_its_reason_code(ops):
    merchant = MerchantFactory(company_name="违规商贸有限公司")
    pay_deposit(merchant, 200_000)

    ops.run_action("/admin/merchants/merchant/", merchant.pk, "deduct_deposit")
    ops.fill(amount_fen="30000", reason_code=DepositMovement.Reason.FAKE_TRACKING, note="订单 #1 虚假单号")
    ops.shot("03-deduct-form")
    ops.submit()

    assert "Deducted ¥300.00" in ops.message()
    ops.shot("04-deposit-deducted")
    movement = DepositMovement.objects.get(merchant=merchant, kind=DepositMovement.Kind.DEDUCTED)
    assert (movement.amount_fen, movement.reason_code, movement.balance_after_fen) == (
        -30_000,
        DepositMovement.Reason.FAKE_TRACKING,
        170_000,
    )
    assert movement.actor.username == "ops"
    assert merchant_deposit_balance(merchant_id=merchant.pk) == 170_000


def test_ops_freezes_a_store(ops):
    store, _, _ = make_store(name="刷单群", members=1)

    ops.run_action("/admin/groupstore/store/", store.pk, "freeze")
    ops.fill(reason="刷单")
    ops.submit()

    assert "Froze 1 store" in ops.message()
    ops.shot("05-store-frozen")
    store = Store.objects.get(pk=store.pk)
    assert store.is_frozen
    assert store.frozen_reason == "刷单"


def _run_action_with_note(ops, browser, changelist: str, pk: int, action: str, note: str) -> None:
    """As ``run_action``, with the action form's note filled in before Go."""
    ops.go(changelist)
    row = (By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]')
    WebDriverWait(browser, 15).until(ec.element_to_be_clickable(row)).click()
    Select(browser.find_element(By.NAME, "action")).select_by_value(action)
    browser.find_element(By.NAME, "note").send_keys(note)
    browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()


def test_ops_arbitrate_a_disputed_after_sale_for_the_buyer(ops, browser):
    from orders.models import AfterSale
    from orders.services.after_sales import CaseItem, after_sale_escalate, after_sale_open, after_sale_reject
    from products.tests.factories import SkuFactory
    from rebates.tests.helpers import make_paid_order
    from shop.payments.models import Refund

    store, _, (member,) = make_store(name="宝妈群", members=1)
    sku = SkuFactory(price_fen=1_990, on_hand=5)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    case = after_sale_open(
        order_id=order.pk,
        buyer=member,
        kind="refund",
        items=[CaseItem(order_item_id=order.items.get().pk, qty=1)],
        amount_fen=990,
        reason="商品破损",
    )
    after_sale_reject(case_id=case.pk, merchant_id=sku.merchant_id, actor=None, note="不认可")
    after_sale_escalate(case_id=case.pk, buyer=member, reason="有照片为证")

    _run_action_with_note(
        ops, browser, "/admin/orders/aftersale/?status__exact=disputed", case.pk, "rule_refund", "照片属实"
    )

    assert "1 case(s) ruled." in ops.message()
    ops.shot("06-after-sale-ruled")
    case.refresh_from_db()
    assert (case.status, case.refunded_fen, case.ops_note) == (AfterSale.Status.REFUNDED, 990, "照片属实")
    assert case.decided_by.username == "ops"
    assert Refund.objects.get(payment=order.payment).amount_fen == 990


def test_ops_retry_a_failed_payout(ops):
    from rebates.models import Withdrawal
    from rebates.services.withdrawals import withdrawal_create
    from rebates.tests.helpers import fund_wallet
    from shop.payments.models import Payout
    from shop.payments.payouts import payout_apply, payout_send

    store, _, (member,) = make_store(name="提现群", members=1)
    fund_wallet(member, 5_000)
    withdrawal = withdrawal_create(user=member, amount_fen=2_000)
    payout_send(payout_id=withdrawal.payout_id)
    first = Payout.objects.get(pk=withdrawal.payout_id)
    payout_apply(out_bill_no=first.out_bill_no, state="FAIL", fail_reason="NAME_MISMATCH")
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.FAILED

    ops.run_action("/admin/rebates/withdrawal/?status__exact=failed", withdrawal.pk, "retry_payout")

    assert "payout sent again" in ops.message()
    ops.shot("07-payout-retried")
    withdrawal.refresh_from_db()
    assert withdrawal.status != Withdrawal.Status.FAILED
    assert withdrawal.payout_id != first.pk
    assert Payout.objects.get(pk=withdrawal.payout_id).out_bill_no != first.out_bill_no
