"""End to end, in a real browser: a buyer pays on the sandbox's checkout page and the
tenant is entitled and its product backend holds `checkout.completed`; then the tenant
manages its subscription on the sandbox's portal page (cancel at period end, resume, change
plan) and the service's records follow.

A real `payments serve` (SQLite, the shipped plugins.toml, the embedded dispatcher) with
FunnelAI's events aimed at a real aiohttp consumer; Debian's headless Chromium, driven by
Selenium, opens the checkout URL, clicks Pay and lands on the success URL. The page loads
nothing from anywhere but the service.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

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
    env: dict[str, str]
    """The environment `payments serve` runs with (its database, its plugins file)."""


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
            yield Service(f"http://localhost:{port}", consumer, env)
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
            landed_plan=driver.find_element(By.ID, "plan-status").text,
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
    assert (seen["amount"], seen["interval"]) == ("€19.00 today", "then €19.00 per month")
    assert seen["tenant"] == "Demo SRL"
    assert seen["landed"] == success + session["providerCheckoutSessionId"]
    assert seen["landed_title"] == "Payment complete"
    # The return page reads the plan status the way a product does.
    for shown in ("Demo SRL's plan", "Starter", "active", "Active: the product is unlocked"):
        assert shown in seen["landed_plan"], seen["landed_plan"]
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


PORTAL_SCRIPT = """
import asyncio, os, sys
from core.models import SandboxObject
from core.providers import PortalRequest
from core.store import db
from sandbox_provider.provider import SandboxProvider
from sandbox_provider.settings import SandboxSettings


async def main(base: str, tenant: str, return_url: str) -> None:
    await db.connect(os.environ["PAYMENTS_DATABASE_URL"])
    provider = SandboxProvider("sandbox", SandboxSettings(public_url=base), base)
    try:
        customer = await SandboxObject.get(kind="customer")
        session = await provider.create_portal_session(
            PortalRequest(customer.id, return_url, "funnel", tenant, "browser-portal")
        )
        print(session.url)
    finally:
        await provider.close()
        await db.close()


asyncio.run(main(*sys.argv[1:]))
"""


def open_portal_session(service: Service, tenant: str, return_url: str) -> str:
    """A portal session made by the sandbox provider itself (the host's portal route comes
    with the lead's core changes), on the served database, in a process of its own."""
    made = subprocess.run(
        [sys.executable, "-c", PORTAL_SCRIPT, service.base, tenant, return_url],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def press(driver: WebDriver, button: str, landed: str) -> dict[str, Any]:
    """Click a portal button, wait for the page to come back with `landed`; what it shows."""
    driver.find_element(By.ID, button).click()
    try:
        # The old page's body goes stale while the browser navigates: look again.
        WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: landed in d.find_element(By.TAG_NAME, "body").text
        )
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(
            f"{button} did not land on {landed!r}: {driver.current_url}\n{body}"
        ) from None
    card = driver.find_element(By.CSS_SELECTOR, ".subscription")
    return {
        "url": driver.current_url,
        "message": driver.find_element(By.ID, "message").text,
        "card": card.text,
        "plan": card.find_element(By.CSS_SELECTOR, ".plan").text,
        "invoices": [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".invoice")],
    }


async def subscription_record(api: str, tenant: str) -> dict[str, Any]:
    listed = await call("GET", f"{api}/subscriptions?consumerTenantId={tenant}")
    [record] = listed["data"]
    found: dict[str, Any] = record
    return found


async def test_a_tenant_manages_its_subscription_on_the_portal_page(
    service: Service, tmp_path: Path
) -> None:
    api = f"{service.base}/internal/payments"
    await call("POST", f"{api}/pricing-items", starter_item(features={"funnels": 5}))
    await call(
        "POST",
        f"{api}/pricing-items",
        {
            "code": "pro_month",
            "name": "Pro",
            "kind": "recurring",
            "unitAmount": 4900,
            "currency": "eur",
            "interval": "month",
            "features": {"funnels": 50},
        },
    )
    success = f"{service.base}/sandbox/return?session_id="
    session = await call(
        "POST",
        f"{api}/checkout-sessions",
        {
            "pricingItemCode": "starter_month",
            "consumerKey": "funnel",
            "consumerTenantId": "tenant_portal",
            "legalName": "Portal SRL",
            "successUrl": success + "{CHECKOUT_SESSION_ID}",
            "cancelUrl": f"{service.base}/sandbox/return?checkout=cancel",
        },
    )
    await asyncio.to_thread(pay_in_the_browser, session["url"], success, tmp_path / "pay")
    sub_id = (await subscription_record(api, "tenant_portal"))["providerSubscriptionId"]
    back = f"{service.base}/sandbox/return?checkout=portal"
    url = await asyncio.to_thread(open_portal_session, service, "tenant_portal", back)
    assert url.startswith(f"{service.base}/sandbox/portal/bps_sbx_")

    manager = browser.chromium(tmp_path / "portal")
    driver = await asyncio.to_thread(manager.__enter__)
    try:
        await asyncio.to_thread(driver.get, url)
        assert driver.find_element(By.ID, "portal-title").text == "Billing"
        assert driver.find_element(By.ID, "tenant").text.startswith("Portal SRL (tenant_portal)")
        assert driver.find_element(By.CSS_SELECTOR, ".subscription .plan").text == "Starter"
        assert driver.find_element(By.ID, "return").get_attribute("href") == back

        seen = await asyncio.to_thread(
            press, driver, f"cancel-at-period-end-{sub_id}", "will be canceled"
        )
        assert "Cancels at the end of the period" in seen["card"]
        record = await subscription_record(api, "tenant_portal")
        assert (record["status"], record["cancelAtPeriodEnd"]) == ("active", True)
        status = await call("GET", f"{api}/tenants/tenant_portal/plan-status?consumerKey=funnel")
        assert status["entitled"] is True

        seen = await asyncio.to_thread(press, driver, f"resume-{sub_id}", "continues")
        assert "Cancels at the end" not in seen["card"] and "Renews on" in seen["card"]
        assert (await subscription_record(api, "tenant_portal"))["cancelAtPeriodEnd"] is False

        Select(driver.find_element(By.ID, f"item-{sub_id}")).select_by_value("pro_month")
        Select(driver.find_element(By.ID, f"proration-{sub_id}")).select_by_value("always_invoice")
        seen = await asyncio.to_thread(press, driver, f"change-{sub_id}", "The plan is changed")
        assert seen["plan"] == "Pro" and "€49.00 per month" in seen["card"]
        assert [line.split()[0] for line in seen["invoices"]] == ["SBX-0002", "SBX-0001"]
        record = await subscription_record(api, "tenant_portal")
        assert (record["pricingItemCode"], record["status"]) == ("pro_month", "active")
        status = await call("GET", f"{api}/tenants/tenant_portal/plan-status?consumerKey=funnel")
        assert status["features"] == {"funnels": 50}

        requests = browser.requests_made(driver)
        assert browser.network_beyond(requests, service.base) == []
        await asyncio.to_thread(driver.find_element(By.ID, "return").click)
        await asyncio.to_thread(WebDriverWait(driver, 30).until, lambda d: d.current_url == back)
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


def read_the_docs(url: str, profile: Path) -> dict[str, Any]:
    """Open `/docs`, wait for Swagger UI to draw the document; what the browser saw."""
    with browser.chromium(profile) as driver:
        driver.get(url)
        try:
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".information-container .title")
            )
        except TimeoutException:
            logs = driver.get_log("browser")
            raise AssertionError(f"Swagger UI did not render: {logs}") from None
        return {
            "title": driver.find_element(By.CSS_SELECTOR, ".information-container .title").text,
            "page": driver.find_element(By.TAG_NAME, "body").text,
            "errors": [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"],
            "requests": browser.requests_made(driver),
        }


async def test_the_docs_page_renders_the_api_in_chromium(service: Service, tmp_path: Path) -> None:
    seen = await asyncio.to_thread(
        read_the_docs, f"{service.base}/docs", tmp_path / "chromium-docs"
    )

    assert seen["title"].startswith("platform-payments"), seen["title"]
    assert "/internal/payments/checkout-sessions" in seen["page"]
    assert "checkout.completed" in seen["page"]  # the webhooks section
    assert seen["errors"] == []  # nothing refused by the Content-Security-Policy
    assert browser.network_beyond(seen["requests"], service.base) == []
