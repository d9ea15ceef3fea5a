"""Headless Chromium through selenium for the browser tests (skips when not installed).

Chromium and its driver are the Debian packages ``chromium`` and ``chromium-driver``
(``make system-packages`` installs them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage", "--window-size=1200,2400")


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def chrome(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium WebDriver with the browser log enabled; skips the test when
    chromium, chromium-driver or selenium is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    browser = _binary("chromium", "chromium-browser", "google-chrome")
    driver_bin = _binary("chromedriver", "chromium-driver")
    if browser is None or driver_bin is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver, "
                    "or `make system-packages`)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_bin), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
