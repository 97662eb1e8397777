"""Ops take decisions in admin, then find them in the audit trail (issue 16, step 3).

An ops superuser freezes a group store (the action's own reason form) and freezes a
shopper's account (the audit's reason page), then opens "Audit trail": both entries are
there with who and why, the list filters to one action and finds an object by its id.
Screenshots under ``var/artifacts/browser/`` (``audit-*.png``)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from accounts.tests.factories import UserFactory
from groupstore.models import Store
from groupstore.tests.factories import make_store
from shop.audit.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPS_PASSWORD = "ops-audit-browser-pw"  # a throwaway superuser of the test database


def test_ops_see_their_decisions_in_the_audit_trail(live_server, browser, artifacts_dir):
    User.objects.create_superuser(username="ops-zhang", password=OPS_PASSWORD, email="ops@example.com")
    store, _, _ = make_store(name="刷单嫌疑群", members=1)
    shopper = UserFactory(nickname="可疑买家")
    wait = WebDriverWait(browser, 15)

    def go(path: str) -> None:
        browser.get(f"{live_server.url}{path}")

    def shot(name: str) -> None:
        browser.save_screenshot(str(artifacts_dir / f"audit-{name}.png"))

    def run_action(changelist: str, pk: int, action: str) -> None:
        go(changelist)
        row = (By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]')
        wait.until(ec.element_to_be_clickable(row)).click()
        Select(browser.find_element(By.NAME, "action")).select_by_value(action)
        browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()

    def fill_and_submit(field: str, value: str, button: str) -> None:
        wait.until(ec.presence_of_element_located((By.NAME, field))).send_keys(value)
        browser.find_element(By.CSS_SELECTOR, f'input[name="{button}"]').click()

    def message() -> str:
        return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist"))).text

    browser.delete_all_cookies()
    go("/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ops-zhang")
    browser.find_element(By.NAME, "password").send_keys(OPS_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()
    wait.until(ec.presence_of_element_located((By.ID, "user-tools")))

    run_action("/admin/groupstore/store/", store.pk, "freeze")
    fill_and_submit("reason", "群内组织刷单", "apply")
    assert "Froze 1 store" in message()

    run_action("/admin/accounts/user/", shopper.pk, "freeze_users")
    wait.until(ec.presence_of_element_located((By.NAME, "audit_reason")))
    shot("01-reason-asked")
    fill_and_submit("audit_reason", "冒用他人身份下单", "audit_apply")
    assert "Froze 1 user" in message()

    go("/admin/audit/auditentry/")
    table = wait.until(ec.presence_of_element_located((By.ID, "result_list"))).text
    shot("02-trail")
    assert "store.freeze" in table
    assert "群内组织刷单" in table
    assert "user.freeze" in table
    assert "冒用他人身份下单" in table
    assert table.count("ops-zhang") == 2

    go("/admin/audit/auditentry/?action=user.freeze")
    only_freezes = wait.until(ec.presence_of_element_located((By.ID, "result_list"))).text
    assert "user.freeze" in only_freezes
    assert "store.freeze" not in only_freezes

    go("/admin/audit/auditentry/")
    search = wait.until(ec.presence_of_element_located((By.ID, "searchbar")))
    search.send_keys(str(store.pk))
    before = browser.find_element(By.ID, "result_list")
    browser.find_element(By.CSS_SELECTOR, '#changelist-search input[type="submit"]').click()
    wait.until(ec.staleness_of(before))  # the search's page, not the list it replaces
    found = wait.until(ec.presence_of_element_located((By.ID, "result_list"))).text
    shot("03-search-by-object-id")
    assert "store.freeze" in found
    if shopper.pk != store.pk:  # the id is matched exactly: the other entry is not found
        assert "user.freeze" not in found

    assert Store.objects.get(pk=store.pk).is_frozen
    assert User.objects.get(pk=shopper.pk).is_frozen
    assert set(AuditEntry.objects.values_list("action", "actor__username")) == {
        ("store.freeze", "ops-zhang"),
        ("user.freeze", "ops-zhang"),
    }
