"""A real headless Chromium for end-to-end tests: Debian's `chromium`, driven by Selenium
through Debian's `chromedriver`.

Nothing is downloaded: the driver's path is given to Selenium's `Service`, which makes
Selenium skip Selenium Manager, and the browser is `/usr/bin/chromium`. When either is
missing the test fails (it is not skipped) and says how to install them; `.ci/run` does.
Selenium is synchronous: call it from a thread (`asyncio.to_thread`) so the test's own
servers keep answering while the browser waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
INSTALL = "apt-get install -y --no-install-recommends chromium chromium-driver (.ci/run does)"


def require_chromium() -> None:
    """Fail, with the way out, when Debian's Chromium or its driver is not installed."""
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.is_file():
            pytest.fail(f"{needed} is missing: this test drives Debian's Chromium; {INSTALL}")


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile in `profile`, logging its network requests."""
    require_chromium()
    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@dataclass(frozen=True)
class Request:
    url: str
    document_url: str
    """The page that made the request (Chromium's own pages are `chrome://...`)."""


NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})


def requests_made(driver: WebDriver) -> list[Request]:
    """Every request the browser made since the last call (from its performance log)."""
    made = []
    for entry in driver.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            made.append(Request(str(params["request"]["url"]), str(params.get("documentURL", ""))))
    return made


def network_beyond(requests: list[Request], allowed_origin: str) -> list[str]:
    """What went anywhere but `allowed_origin`: any network request elsewhere, and anything
    a page of `allowed_origin` asked for elsewhere (a data: or chrome: URL included)."""
    return [
        r.url
        for r in requests
        if origin(r.url) != allowed_origin
        and (urlsplit(r.url).scheme in NETWORK_SCHEMES or origin(r.document_url) == allowed_origin)
    ]


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
