"""End to end, in a real browser: a buyer pays on the sandbox's checkout page and the
tenant is entitled and its product backend holds `checkout.completed`.

A real `payments serve` (SQLite, the shipped plugins.toml, the embedded dispatcher) with
FunnelAI's events aimed at a real aiohttp consumer; Debian's headless Chromium, driven by
Selenium, opens the checkout URL, clicks Pay and lands on the success URL. The page loads
nothing from anywhere but the service.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import browser
from tests.support.catalog import starter_item
from tests.support.consumer_server import ConsumerServer
from tests.support.processes import PAYMENTS, free_port
from tests.support.serving import wait_until_up

TOKEN = "e2e-internal-token"
HEADERS = {"x-platform-internal-token": TOKEN}


@dataclass
class Service:
    base: str
    """As the browser and the sandbox's URLs name it: `http://localhost:<port>`."""
    consumer: ConsumerServer


@pytest.fixture
async def service(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> AsyncIterator[Service]:
    browser.require_chromium()
    port = free_port()
    async with ConsumerServer() as consumer:
        env = {
            **clean_env,
            "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/e2e.sqlite3",
            "PAYMENTS_INTERNAL_TOKEN": TOKEN,
            "PORT": str(port),
            "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
            "PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL": consumer.url,
            "PAYMENTS_DELIVERY_POLL_INTERVAL": "0.2",
        }
        migrated = subprocess.run(
            [PAYMENTS, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert migrated.returncode == 0, migrated.stderr
        log = (tmp_path / "serve.log").open("wb")
        process = subprocess.Popen([PAYMENTS, "serve"], env=env, stdout=log, stderr=log)
        try:
            await wait_until_up(f"http://127.0.0.1:{port}", process)
            yield Service(f"http://localhost:{port}", consumer)
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()


async def call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, json=body, headers=HEADERS) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


def pay_in_the_browser(url: str, success_prefix: str, profile: Path) -> dict[str, Any]:
    """Open the checkout, read it, click Pay, follow the redirect; what the browser saw."""
    with browser.chromium(profile) as driver:
        driver.get(url)
        seen = {
            "title": driver.title,
            "item": driver.find_element(By.ID, "item-name").text,
            "amount": driver.find_element(By.ID, "amount").text,
            "interval": driver.find_element(By.ID, "interval").text,
            "tenant": driver.find_element(By.ID, "tenant").text,
            "resources": driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            ),
        }
        page_requests = browser.requests_made(driver)
        driver.find_element(By.ID, "pay").click()
        try:
            WebDriverWait(driver, 30).until(lambda d: d.current_url.startswith(success_prefix))
        except TimeoutException:
            body = driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(
                f"Pay did not land on the success URL: {driver.current_url}\n{body}"
            ) from None
        seen.update(
            landed=driver.current_url,
            landed_title=driver.find_element(By.ID, "return-title").text,
            requests=page_requests + browser.requests_made(driver),
        )
        return seen


async def test_a_buyer_pays_in_chromium_and_the_tenant_is_entitled(
    service: Service, tmp_path: Path
) -> None:
    api = f"{service.base}/internal/payments"
    await call(
        "POST",
        f"{api}/pricing-items",
        starter_item(features={"funnels": 5}),
    )
    success = f"{service.base}/sandbox/return?session_id="
    session = await call(
        "POST",
        f"{api}/checkout-sessions",
        {
            "pricingItemCode": "starter_month",
            "consumerKey": "funnel",
            "consumerTenantId": "tenant_e2e",
            "tenantName": "Demo",
            "legalName": "Demo SRL",
            "billingEmail": "billing@example.test",
            "successUrl": success + "{CHECKOUT_SESSION_ID}",
            "cancelUrl": f"{service.base}/sandbox/return?checkout=cancel",
        },
    )
    assert session["providerKey"] == "sandbox"
    assert session["url"].startswith(f"{service.base}/sandbox/checkout/cs_sbx_")

    seen = await asyncio.to_thread(
        pay_in_the_browser, session["url"], success, tmp_path / "chromium-profile"
    )

    assert seen["item"] == "Starter"
    assert (seen["amount"], seen["interval"]) == ("€19.00", "per month")
    assert seen["tenant"] == "Demo SRL (tenant_e2e)"
    assert seen["landed"] == success + session["providerCheckoutSessionId"]
    assert seen["landed_title"] == "Payment complete"
    # Nothing but the service: no fonts, scripts, images or beacons from anywhere else.
    ours = [r.url for r in seen["requests"] if browser.origin(r.document_url) == service.base]
    assert any(url.startswith(f"{service.base}/sandbox/checkout/") for url in ours), ours
    assert browser.network_beyond(seen["requests"], service.base) == []
    assert all(browser.origin(url) == service.base for url in seen["resources"])

    status = await call("GET", f"{api}/tenants/tenant_e2e/plan-status?consumerKey=funnel")
    assert (status["entitled"], status["status"]) == (True, "active")
    deadline = time.monotonic() + 30
    while "checkout.completed" not in (
        types := [r.json()["type"] for r in service.consumer.requests]
    ):
        assert time.monotonic() < deadline, f"the consumer holds only {types}"
        await asyncio.sleep(0.05)
    [completed] = [
        r.json() for r in service.consumer.requests if r.json()["type"] == "checkout.completed"
    ]
    assert completed["consumerTenantId"] == "tenant_e2e"
    assert completed["providerKey"] == "sandbox"
    assert completed["data"]["checkoutSession"]["status"] == "complete"
