"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium against
pytest-django's live server. Tests here are marked ``browser``; they skip, saying why,
only when the browser or its driver is not installed (CI installs both: ``.ci/run``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")


def _find(names) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(settings.VAR_DIR) / "artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    chromium, driver_path = _find(CHROMIUM_NAMES), _find(DRIVER_NAMES)
    if not chromium or not driver_path:
        pytest.skip(
            "Chromium or its driver is not installed "
            "(apt-get install -y chromium chromium-driver; .ci/run does it in CI)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1366,1000")
    options.add_argument("--lang=en-US")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
