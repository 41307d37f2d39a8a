"""The sandbox provider through the app, on SQLite and PostgreSQL: the hosted page, Pay,
Decline, Cancel, the internal controls, its signed webhooks and the development inbox.

Paying makes the sandbox POST its signed events to the service's own `/webhooks/sandbox`
over real HTTP, so the app is served by Hypercorn on a free port (in this process) and
the sandbox's `public_url` points at it; requests go through the app's test client.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart
from sandbox_provider import signing
from sandbox_provider.settings import DEVELOPMENT_WEBHOOK_SECRET

from core.config import Settings
from core.models import CheckoutSession, ProviderEvent, Purchase, SandboxObject, Subscription
from tests.support.api import Api, Reply
from tests.support.processes import free_port
from tests.support.webhooks import event_types

TOKEN = "test-internal-token"
ITEMS = "/internal/payments/pricing-items"
CHECKOUTS = "/internal/payments/checkout-sessions"
CONTROLS = "/internal/payments/sandbox"
SUCCESS = "http://funnel.test/#/pricing/complete?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://funnel.test/#/pricing?checkout=cancel"


def sandbox_plugins(public_url: str, *, stripe_first: bool = True) -> str:
    stripe = '[providers.stripe]\nplugin = "stripe"\ndefault = true\nsecret_key = "${STRIPE_SECRET_KEY}"\n'
    return f"""
{stripe if stripe_first else ""}
[providers.sandbox]
plugin = "sandbox"
public_url = "{public_url}"
webhook_timeout = 5

[consumers.funnel]
plugin = "funnel"
"""


@dataclass
class Served:
    app: Quart
    api: Api
    base: str


async def _wait_until_up(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"{base}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.025)
    raise AssertionError(f"the app did not come up at {base}")


@pytest.fixture
async def serve_app(
    database: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Any]]:
    """Serve an app over Hypercorn on a free port; `public_url` defaults to that port."""
    from web.app import create_app

    stops: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(
        public_url: str | None = None, plugins: str | None = None, **env: str
    ) -> Served:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        text = plugins.replace("{base}", base) if plugins else sandbox_plugins(public_url or base)
        app = create_app(make_settings(text, **env), connect_database=False)
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
        stops.append((stop, task))
        await _wait_until_up(base)
        return Served(app, Api(app, TOKEN), base)

    yield start
    for stop, task in reversed(stops):
        stop.set()
        await task


@pytest.fixture
async def served(serve_app: Callable[..., Any]) -> Served:
    served: Served = await serve_app()
    await add_items(served.api)
    return served


async def add_items(api: Api) -> None:
    for body in (
        {
            "code": "starter_month",
            "name": "Starter",
            "description": "Five funnels",
            "kind": "recurring",
            "unitAmount": 1900,
            "currency": "eur",
            "interval": "month",
            "features": {"funnels": 5},
        },
        {
            "code": "trial_year",
            "name": "Pro yearly",
            "kind": "recurring",
            "unitAmount": 19000,
            "currency": "usd",
            "interval": "year",
            "trialDays": 14,
        },
        {
            "code": "lifetime_addon",
            "name": "Lifetime exports",
            "kind": "one_time",
            "unitAmount": 4900,
            "currency": "eur",
            "features": {"exports": True},
        },
    ):
        reply = await api.post(ITEMS, json=body)
        assert reply.status == 201, reply.body


async def open_checkout(
    api: Api, item: str = "starter_month", tenant: str = "tenant_123"
) -> dict[str, Any]:
    reply = await api.post(
        CHECKOUTS,
        json={
            "pricingItemCode": item,
            "consumerKey": "funnel",
            "consumerTenantId": tenant,
            "tenantName": "Demo",
            "legalName": "Demo SRL",
            "billingEmail": "billing@example.test",
            "successUrl": SUCCESS,
            "cancelUrl": CANCEL,
        },
    )
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


def page_path(session: dict[str, Any]) -> str:
    return f"/sandbox/checkout/{session['providerCheckoutSessionId']}"


async def click(api: Api, session: dict[str, Any], button: str) -> Reply:
    return await api.post(f"{page_path(session)}/{button}", token=None)


async def plan(api: Api, tenant: str = "tenant_123") -> dict[str, Any]:
    reply = await api.get(f"/internal/payments/tenants/{tenant}/plan-status?consumerKey=funnel")
    assert reply.status == 200
    body: dict[str, Any] = reply.body
    return body


def text(reply: Reply) -> str:
    return reply.raw.decode()


async def test_the_page_shows_the_item_amount_interval_and_tenant(served: Served) -> None:
    session = await open_checkout(served.api)
    assert session["providerKey"] == "sandbox"
    assert session["url"] == f"{served.base}{page_path(session)}"
    assert re.fullmatch(r"cs_sbx_[0-9a-f]+", session["providerCheckoutSessionId"])

    reply = await served.api.get(page_path(session), token=None)

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    page = text(reply)
    for shown in ("Starter", "Five funnels", "€19.00", "then €19.00 per month", "Demo SRL"):
        assert shown in page
    # Internal ids stay out of the buyer's way: only in the small print at the bottom.
    visible = re.sub(r"<[^>]+>", " ", page.split("<body", 1)[1])
    above, small_print = visible.split("Account ", 1)
    for internal in ("tenant_123", session["providerCheckoutSessionId"]):
        assert internal in small_print and internal not in above
    assert "funnel" in small_print
    for button in ("pay", "decline", "cancel"):
        assert f'action="{page_path(session)}/{button}"' in page
    assert "<script" not in page
    assert re.search(r"(src|href)=\"https?://", page) is None


async def test_a_checkout_for_an_unconfigured_consumer_is_refused(served: Served) -> None:
    body = {
        "pricingItemCode": "starter_month",
        "consumerKey": "crm",
        "consumerTenantId": "tenant_123",
        "successUrl": SUCCESS,
        "cancelUrl": CANCEL,
    }

    reply = await served.api.post(CHECKOUTS, json=body)

    assert reply.status == 422
    assert reply.body["code"] == "consumer_unknown"
    assert reply.body["message"] == (
        "consumer 'crm' is not configured (configured: 'funnel'): its events would have "
        "nowhere to go"
    )
    assert await CheckoutSession.all().count() == 0
    assert await SandboxObject.all().count() == 0  # the provider was not asked
    assert (await served.api.post(CHECKOUTS, json={**body, "consumerKey": "funnel"})).status == 201


async def test_pay_completes_a_subscription_and_redirects_to_the_success_url(
    served: Served,
) -> None:
    session = await open_checkout(served.api)
    session_id = session["providerCheckoutSessionId"]

    reply = await click(served.api, session, "pay")

    assert reply.status == 303
    assert reply.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session_id)
    # The webhook was answered before the redirect: the tenant is entitled already.
    status = await plan(served.api)
    assert status["entitled"] is True
    assert status["status"] == "active"
    assert status["features"] == {"funnels": 5}
    assert await event_types("tenant_123") == [
        "subscription.created",
        "invoice.paid",
        "checkout.completed",
    ]
    stored = await CheckoutSession.get(provider_checkout_session_id=session_id)
    assert (stored.status, stored.payment_status) == ("complete", "paid")
    landed = text(await served.api.get(f"/sandbox/return?session_id={session_id}", token=None))
    assert "Payment complete" in landed and "Demo SRL's plan" in landed
    assert 'id="plan-name">Starter<' in landed and 'id="plan-status-value">active<' in landed
    assert "Active: the product is unlocked" in landed and "Renews on" in landed
    subscription = await Subscription.get(consumer_tenant_id="tenant_123")
    assert subscription.provider_subscription_id.startswith("sub_sbx_")
    assert stored.subscription_id == subscription.id  # type: ignore[attr-defined]
    assert sorted(e.type for e in await ProviderEvent.filter(provider_key="sandbox")) == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    assert await SandboxObject.filter(kind="event_pending").count() == 0

    again = await click(served.api, session, "pay")
    assert again.status == 409
    assert "checkout_session_closed" in text(again)
    assert (await served.api.get(page_path(session), token=None)).status == 409
    assert await Subscription.all().count() == 1


async def test_a_trial_item_starts_trialing(served: Served) -> None:
    session = await open_checkout(served.api, "trial_year")
    page = text(await served.api.get(page_path(session), token=None))
    assert "$190.00" in page and "per year" in page and "14-day free trial" in page
    assert "after the 14-day free trial, $190.00 per year" in page and "$0.00" in page

    assert (await click(served.api, session, "pay")).status == 303

    status = await plan(served.api)
    assert (status["status"], status["entitled"]) == ("trialing", True)
    trial_end = status["subscription"]["trialEnd"]
    assert trial_end > status["evaluatedAt"]

    sub_id = (await Subscription.get(consumer_tenant_id="tenant_123")).provider_subscription_id
    renewed = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/renew")

    assert renewed.body["status"] == "active"
    assert renewed.body["trialEnd"] == renewed.body["currentPeriodStart"] < trial_end
    assert renewed.body["latestInvoice"]["amountDue"] == 19000
    status = await plan(served.api)
    assert (status["status"], status["subscription"]["trialEnd"]) == (
        "active",
        renewed.body["trialEnd"],
    )


async def test_a_one_time_payment_declined_then_paid(served: Served) -> None:
    session = await open_checkout(served.api, "lifetime_addon")

    declined = await click(served.api, session, "decline")

    assert declined.status == 303
    assert declined.headers["location"] == f"{page_path(session)}?declined=1"
    shown = await served.api.get(declined.headers["location"], token=None)
    assert shown.status == 200 and "declined" in text(shown)
    purchase = await Purchase.get(consumer_tenant_id="tenant_123")
    assert purchase.status == "failed"
    assert (await plan(served.api))["purchases"] == []

    paid = await click(served.api, session, "pay")

    assert paid.status == 303
    await purchase.refresh_from_db()
    assert (purchase.status, purchase.amount, purchase.currency) == ("paid", 4900, "eur")
    assert await Purchase.all().count() == 1
    status = await plan(served.api)
    assert [p["pricingItemCode"] for p in status["purchases"]] == ["lifetime_addon"]
    assert status["features"] == {"exports": True}
    assert await event_types("tenant_123") == [
        "purchase.failed",
        "checkout.completed",
        "purchase.paid",
    ]


async def test_a_declined_subscription_checkout_stays_open(served: Served) -> None:
    session = await open_checkout(served.api)

    assert (await click(served.api, session, "decline")).status == 303

    assert await Subscription.all().count() == 0
    assert await event_types() == []
    stored = await CheckoutSession.get(
        provider_checkout_session_id=session["providerCheckoutSessionId"]
    )
    assert stored.status == "open"
    assert (await served.api.get(page_path(session), token=None)).status == 200


async def test_cancel_goes_back_to_the_cancel_url_and_the_session_stays_open(
    served: Served,
) -> None:
    session = await open_checkout(served.api)

    reply = await click(served.api, session, "cancel")

    assert reply.status == 303
    assert reply.headers["location"] == CANCEL
    assert await event_types() == []
    assert (await served.api.get(page_path(session), token=None)).status == 200


async def test_an_unknown_session_is_a_tidy_404_page(served: Served) -> None:
    for method, path in (
        ("GET", "/sandbox/checkout/cs_sbx_nope"),
        ("POST", "/sandbox/checkout/cs_sbx_nope/pay"),
        ("POST", "/sandbox/checkout/cs_sbx_nope/decline"),
        ("POST", "/sandbox/checkout/cs_sbx_nope/cancel"),
    ):
        reply = await served.api.request(method, path, token=None)
        assert reply.status == 404, path
        assert reply.headers["content-type"].startswith("text/html")
        assert "Checkout not found" in text(reply)
        assert "Traceback" not in text(reply)


async def test_two_pays_at_once_complete_the_session_once(served: Served) -> None:
    session = await open_checkout(served.api)

    replies = await asyncio.gather(*(click(served.api, session, "pay") for _ in range(3)))

    assert sorted(r.status for r in replies) == [303, 409, 409]
    assert await Subscription.all().count() == 1
    assert await SandboxObject.filter(kind="subscription").count() == 1
    assert await event_types() == ["subscription.created", "invoice.paid", "checkout.completed"]


async def paid_subscription(served: Served, tenant: str = "tenant_123") -> str:
    session = await open_checkout(served.api, tenant=tenant)
    assert (await click(served.api, session, "pay")).status == 303
    record = await Subscription.get(consumer_tenant_id=tenant)
    return record.provider_subscription_id


async def test_fail_next_payment_then_renew_then_cancel(served: Served) -> None:
    sub_id = await paid_subscription(served)
    first = await Subscription.get(provider_subscription_id=sub_id)

    failed = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/fail-next-payment")

    assert failed.status == 200, failed.body
    assert failed.body["status"] == "past_due"
    assert failed.body["latestInvoice"]["status"] == "open"
    status = await plan(served.api)
    assert (status["status"], status["entitled"]) == ("past_due", False)  # no grace days
    record = await Subscription.get(provider_subscription_id=sub_id)
    assert record.current_period_end > first.current_period_end  # type: ignore[operator]

    renewed = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/renew")

    assert renewed.status == 200
    assert (renewed.body["status"], renewed.body["latestInvoice"]["status"]) == ("active", "paid")
    assert (await plan(served.api))["entitled"] is True

    renewed_again = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/renew")
    assert renewed_again.body["currentPeriodEnd"] > renewed.body["currentPeriodEnd"]
    await record.refresh_from_db()
    assert record.current_period_end is not None
    assert record.current_period_end.isoformat()[:19] == renewed_again.body["currentPeriodEnd"][:19]

    canceled = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/cancel")

    assert canceled.status == 200
    assert canceled.body["status"] == "canceled" and canceled.body["endedAt"] is not None
    status = await plan(served.api)
    assert (status["status"], status["entitled"]) == ("canceled", False)
    assert await event_types() == [
        "subscription.created",
        "invoice.paid",
        "checkout.completed",
        "subscription.updated",
        "invoice.payment_failed",
        "subscription.payment_failed",
        "subscription.updated",
        "invoice.paid",
        "subscription.updated",
        "invoice.paid",
        "subscription.canceled",
    ]


async def test_controls_refuse_unknown_and_canceled_subscriptions(served: Served) -> None:
    sub_id = await paid_subscription(served)
    assert (await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/cancel")).status == 200
    before = await event_types()

    for action in ("renew", "fail-next-payment", "cancel"):
        unknown = await served.api.post(f"{CONTROLS}/subscriptions/sub_sbx_nope/{action}")
        assert unknown.status == 404
        assert unknown.body["code"] == "sandbox_subscription_not_found"
        assert set(unknown.body) == {"statusCode", "error", "message", "code"}
        ended = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/{action}")
        assert ended.status == 409
        assert ended.body["code"] == "sandbox_subscription_canceled"
        no_token = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/{action}", token=None)
        assert no_token.status == 401

    assert await event_types() == before


async def test_expire_control_expires_an_open_checkout(served: Served) -> None:
    session = await open_checkout(served.api)
    session_id = session["providerCheckoutSessionId"]

    reply = await served.api.post(f"{CONTROLS}/checkout-sessions/{session_id}/expire")

    assert reply.status == 200
    assert reply.body["status"] == "expired"
    assert await event_types() == ["checkout.expired"]
    assert (await served.api.get(f"{CHECKOUTS}/{session_id}")).body["status"] == "expired"
    assert (await served.api.get(page_path(session), token=None)).status == 409
    again = await served.api.post(f"{CONTROLS}/checkout-sessions/{session_id}/expire")
    assert (again.status, again.body["code"]) == (409, "checkout_session_closed")
    missing = await served.api.post(f"{CONTROLS}/checkout-sessions/cs_sbx_nope/expire")
    assert (missing.status, missing.body["code"]) == (404, "checkout_session_not_found")


async def test_without_a_reachable_webhook_pay_says_so_and_the_refresh_catches_up(
    serve_app: Callable[..., Any],
) -> None:
    """The sandbox aims at a port where nothing listens: Pay shows a 502 page; the GET of
    the session reads the sandbox's side and applies it, as with Stripe."""
    served: Served = await serve_app(public_url=f"http://127.0.0.1:{free_port()}")
    await add_items(served.api)
    session = await open_checkout(served.api)

    reply = await click(served.api, session, "pay")

    assert reply.status == 502
    assert "sandbox_webhook_failed" in text(reply)
    assert await event_types() == []
    assert await SandboxObject.filter(kind="event_pending").count() == 3
    refreshed = await served.api.get(f"{CHECKOUTS}/{session['providerCheckoutSessionId']}")
    assert refreshed.body["status"] == "complete"
    assert (await plan(served.api))["entitled"] is True


async def test_sandbox_webhooks_are_verified_before_anything_is_stored(served: Served) -> None:
    body = orjson.dumps({"id": "evt_sbx_forged", "type": "invoice.paid", "data": {"object": {}}})
    headers = {"content-type": "application/json"}
    cases = [
        {},
        {signing.SIGNATURE_HEADER: signing.sign(body, "not-the-secret")},
        {signing.SIGNATURE_HEADER: signing.sign(body, DEVELOPMENT_WEBHOOK_SECRET, 1_000_000)},
        {signing.SIGNATURE_HEADER: "t=abc,v1=00"},
    ]
    for extra in cases:
        reply = await served.api.post(
            "/webhooks/sandbox", data=body, headers={**headers, **extra}, token=None
        )
        assert reply.status == 400, extra
        assert reply.body["code"] == "webhook_signature_invalid"
    assert await ProviderEvent.all().count() == 0

    unknown = orjson.dumps({"id": "evt_sbx_other", "type": "customer.created", "created": 1})
    signed = {signing.SIGNATURE_HEADER: signing.sign(unknown, DEVELOPMENT_WEBHOOK_SECRET)}
    reply = await served.api.post(
        "/webhooks/sandbox", data=unknown, headers={**headers, **signed}, token=None
    )
    assert (reply.status, reply.body["status"]) == (200, "ignored")


async def test_the_sandbox_is_the_default_until_stripe_has_a_key(
    serve_app: Callable[..., Any],
) -> None:
    without = await serve_app()
    providers = (await without.api.get("/internal/payments/providers")).body["data"]
    assert [(p["key"], p["default"], p["configured"]) for p in providers] == [
        ("stripe", False, False),
        ("sandbox", True, True),
    ]
    with_key = await serve_app(STRIPE_SECRET_KEY="sk_test_x")
    providers = (await with_key.api.get("/internal/payments/providers")).body["data"]
    assert [(p["key"], p["default"]) for p in providers] == [("stripe", True), ("sandbox", False)]


async def test_the_inbox_keeps_deliveries_once_and_needs_the_token(served: Served) -> None:
    event = {"id": "evt_1", "type": "checkout.completed", "consumerTenantId": "tenant_123"}
    headers = {"webhook-id": "evt_1"}

    for _ in range(2):
        reply = await served.api.post("/sandbox/inbox", json=event, headers=headers)
        assert reply.status == 200
    assert (await served.api.post("/sandbox/inbox", json=event, token=None)).status == 401
    assert (await served.api.post("/sandbox/inbox", json=[1], headers=headers)).status == 400

    listed = await served.api.get("/sandbox/inbox")
    assert listed.status == 200
    assert [(e["webhookId"], e["event"]) for e in listed.body["data"]] == [("evt_1", event)]
    assert (await served.api.get("/sandbox/inbox", token=None)).status == 401
    bad = await served.api.get("/sandbox/inbox?limit=0")
    assert (bad.status, bad.body["code"]) == (400, "validation_failed")


async def test_without_a_sandbox_key_its_routes_are_404(make_app: Callable[..., Any]) -> None:
    api = Api(await make_app(), TOKEN)
    assert (await api.get("/sandbox/checkout/cs_sbx_x", token=None)).status == 404
    assert (await api.get("/sandbox/inbox")).status == 404
    reply = await api.post(f"{CONTROLS}/subscriptions/sub_sbx_x/renew")
    assert (reply.status, reply.body["code"]) == (404, "sandbox_subscription_not_found")


async def test_the_controls_are_in_the_openapi_document(served: Served) -> None:
    document = (await served.api.get("/openapi.json", token=None)).body
    paths = document["paths"]
    for action in ("renew", "fail-next-payment", "cancel"):
        operation = paths[f"{CONTROLS}/subscriptions/{{subscription_id}}/{action}"]["post"]
        assert {"200", "404", "409"} <= set(operation["responses"])
    assert "/sandbox/checkout/{session_id}" not in paths


async def test_an_expired_session_cannot_be_paid(served: Served) -> None:
    session = await open_checkout(served.api)
    session_id = session["providerCheckoutSessionId"]
    row = await SandboxObject.get(id=session_id)
    row.data = {**row.data, "expires_at": int(time.time()) - 1}
    await row.save()

    reply = await click(served.api, session, "pay")

    assert reply.status == 409
    assert "expired" in text(reply)
    assert await event_types() == ["checkout.expired"]


async def test_a_retried_checkout_gets_the_same_session_and_the_tenant_one_customer(
    served: Served,
) -> None:
    body = {
        "pricingItemCode": "starter_month",
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_123",
        "successUrl": SUCCESS,
        "cancelUrl": CANCEL,
    }
    headers = {"Idempotency-Key": "retry-1"}
    first = await served.api.post(CHECKOUTS, json=body, headers=headers)
    again = await served.api.post(CHECKOUTS, json=body, headers=headers)
    other = await served.api.post(CHECKOUTS, json=body)

    assert (first.status, again.status, other.status) == (201, 201, 201)
    assert again.body["providerCheckoutSessionId"] == first.body["providerCheckoutSessionId"]
    assert other.body["providerCheckoutSessionId"] != first.body["providerCheckoutSessionId"]
    assert await SandboxObject.filter(kind="checkout_session").count() == 2
    assert await SandboxObject.filter(kind="customer").count() == 1
    sessions = await CheckoutSession.all()
    assert {s.provider_customer_id for s in sessions} == {
        (await SandboxObject.get(kind="customer")).id
    }


TWO_SANDBOXES = """
[providers.sandbox]
plugin = "sandbox"
public_url = "{base}"

[providers.sandbox_b]
plugin = "sandbox"
public_url = "{base}"
webhook_secret = "sandbox-b-secret"

[consumers.funnel]
plugin = "funnel"
"""


async def test_two_sandbox_keys_keep_their_own_objects_and_webhooks(
    serve_app: Callable[..., Any],
) -> None:
    served: Served = await serve_app(plugins=TWO_SANDBOXES)
    await add_items(served.api)
    reply = await served.api.post(
        CHECKOUTS,
        json={
            "providerKey": "sandbox_b",
            "pricingItemCode": "starter_month",
            "consumerKey": "funnel",
            "consumerTenantId": "tenant_b",
            "successUrl": SUCCESS,
            "cancelUrl": CANCEL,
        },
    )
    assert reply.status == 201, reply.body

    assert (await click(served.api, reply.body, "pay")).status == 303

    subscription = await Subscription.get(consumer_tenant_id="tenant_b")
    assert subscription.provider_key == "sandbox_b"
    assert await ProviderEvent.filter(provider_key="sandbox_b").count() == 3
    assert await ProviderEvent.filter(provider_key="sandbox").count() == 0
    assert (await plan(served.api, "tenant_b"))["entitled"] is True
    body = orjson.dumps({"id": "evt_sbx_x", "type": "customer.created", "created": 1})
    signed_by_a = {signing.SIGNATURE_HEADER: signing.sign(body, DEVELOPMENT_WEBHOOK_SECRET)}
    refused = await served.api.post(
        "/webhooks/sandbox_b", data=body, headers=signed_by_a, token=None
    )
    assert refused.status == 400
