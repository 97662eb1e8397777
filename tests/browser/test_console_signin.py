"""A merchant signs in to the console through the sandbox form and sees the home page (issue 16).

The sign-in is the real flow: the sign-in page issues a state bound to the browser's
session, the form sends the sandbox code with it to the callback, the callback signs the
person in by unionid. Screenshots (Chinese by default, then English after the language
switch) are kept under ``var/artifacts/browser/``.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from console.tests.helpers import busy_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(settings):
    settings.SANDBOX = True
    settings.WECHAT_WEB_LOGIN = "sandbox"


def test_a_merchant_signs_in_with_the_sandbox_form_and_sees_today(
    live_server, browser, artifacts_dir, sandbox
):
    staff, _ = busy_shop(unionid="browser-owner")
    browser.delete_all_cookies()
    wait = WebDriverWait(browser, 15)

    browser.get(f"{live_server.url}/console/")  # not signed in: sent to sign-in
    form = wait.until(ec.presence_of_element_located((By.ID, "sandbox-signin")))
    assert "/console/signin" in browser.current_url
    browser.save_screenshot(str(artifacts_dir / "console-00-signin.png"))
    form.find_element(By.NAME, "code").send_keys("sandbox:browser-owner")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    wait.until(ec.presence_of_element_located((By.ID, "to-ship")))
    assert browser.current_url == f"{live_server.url}/console/"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "今日待办" in page
    assert staff.merchant.company_name in page
    assert "LOW-" in browser.find_element(By.ID, "low-stock").text
    assert browser.find_element(By.ID, "to-ship").find_element(By.CLASS_NAME, "figure").text == "2"
    browser.save_screenshot(str(artifacts_dir / "console-01-home-zh.png"))

    browser.find_element(By.CSS_SELECTOR, 'form.lang button[value="en"]').click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Today"))
    browser.save_screenshot(str(artifacts_dir / "console-02-home-en.png"))

    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait.until(ec.presence_of_element_located((By.ID, "sandbox-signin")))
    browser.get(f"{live_server.url}/console/")
    wait.until(ec.presence_of_element_located((By.ID, "sandbox-signin")))  # signed out for good


def test_a_code_for_nobody_shows_why(live_server, browser, artifacts_dir, sandbox):
    browser.delete_all_cookies()
    wait = WebDriverWait(browser, 15)
    browser.get(f"{live_server.url}/console/signin")
    form = wait.until(ec.presence_of_element_located((By.ID, "sandbox-signin")))
    form.find_element(By.NAME, "code").send_keys("sandbox:nobody-here")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    alert = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.error")))
    assert "小程序" in alert.text
    browser.save_screenshot(str(artifacts_dir / "console-03-signin-refused.png"))
