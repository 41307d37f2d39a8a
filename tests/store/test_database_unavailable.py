"""A database that is unreachable, or drops the connection mid-request: 503 with Retry-After.

Every route that needs the database answers the contract's JSON error, 503
`database_unavailable`, with `Retry-After`, and nothing of the request is kept (its one
transaction rolled back); `/health` keeps its own documented 503. On PostgreSQL the app
talks to the database through a TCP proxy the test cuts (`tests/support/tcp_proxy.py`);
on SQLite, another connection holds the database's write lock. A real `payments serve`
whose PostgreSQL connections are terminated under load is in `test_database_outage_serve.py`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from quart import Blueprint
from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.transactions import in_transaction

from core.hookspecs import hookimpl
from core.models import NormalizedEvent, PricingItem, ProviderEvent, Subscription
from core.plugins import build_plugin_manager
from core.store import db
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api, Reply
from tests.support.tcp_proxy import TcpProxy
from tests.support.webhooks import SECRET, post_event
from web.app import create_app
from web.database_errors import is_database_unavailable

T0 = 1_790_000_000
ITEM = {"code": "gold", "name": "Gold", "kind": "one_time", "unitAmount": 100, "currency": "eur"}
CHECKOUT = {
    "pricingItemCode": "starter_month",
    "consumerKey": "funnel",
    "consumerTenantId": "tenant_1",
    "successUrl": "https://example.test/ok",
    "cancelUrl": "https://example.test/no",
}


def assert_unavailable(reply: Reply) -> None:
    assert reply.status == 503, (reply.status, reply.raw)
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.body["code"] == "database_unavailable"
    assert reply.body["statusCode"] == 503
    assert reply.body["error"] == "Service Unavailable"
    assert reply.body["message"]
    assert 1 <= int(reply.headers["retry-after"]) <= 5


def subscription_event(sub: str, tenant: str) -> dict[str, Any]:
    obj = se.subscription(
        sub,
        status="active",
        customer=f"cus_{tenant}",
        period_start=T0,
        period_end=T0 + 30 * 86400,
        metadata=se.tenant_metadata(tenant, "starter_month"),
    )
    return se.event("customer.subscription.created", obj, created=T0)


async def starter_item() -> None:
    await PricingItem.create(
        code="starter_month",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
    )


@pytest.fixture
async def hooks(make_app: Callable[..., Any]) -> Api:
    app = await make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
    return Api(app, TOKEN)


@pytest.fixture
async def proxy(database_url: str, database: str) -> AsyncIterator[TcpProxy]:
    """The session's PostgreSQL database, reached by the app through a proxy to cut."""
    proxy = await TcpProxy(database_url).start()
    await db.close()
    await db.connect(proxy.url)
    try:
        yield proxy
    finally:
        await proxy.resume()
        await db.close()
        EXECUTOR_CACHE.clear()
        await db.connect(database_url)
        await proxy.stop()


def _every_route() -> list[tuple[str, str, dict[str, Any]]]:
    some_id = str(uuid.uuid4())
    internal = "/internal/payments"
    return [
        ("GET", f"{internal}/pricing-items", {}),
        ("GET", f"{internal}/public/pricing-items", {}),
        ("POST", f"{internal}/pricing-items", {"json": ITEM}),
        ("POST", f"{internal}/pricing-items", {"json": ITEM, "headers": {"Idempotency-Key": "k"}}),
        ("PATCH", f"{internal}/pricing-items/gold", {"json": {"name": "Gold 2"}}),
        ("DELETE", f"{internal}/pricing-items/gold", {}),
        ("POST", f"{internal}/checkout-sessions", {"json": CHECKOUT}),
        ("GET", f"{internal}/checkout-sessions/cs_test_1", {}),
        ("GET", f"{internal}/tenants/tenant_1/plan-status", {}),
        ("GET", f"{internal}/tenants/tenant_1/plan-status?consumerKey=funnel", {}),
        ("GET", f"{internal}/purchases", {}),
        ("GET", f"{internal}/subscriptions?consumerKey=funnel", {}),
        ("GET", f"{internal}/event-deliveries", {}),
        ("GET", f"{internal}/event-deliveries/{some_id}", {}),
        ("POST", f"{internal}/event-deliveries/{some_id}/retry", {}),
    ]


@pytest.mark.postgres_only
async def test_an_unreachable_database_is_503_with_retry_after_on_every_route(
    hooks: Api, proxy: TcpProxy
) -> None:
    await starter_item()
    assert (await hooks.get("/internal/payments/pricing-items")).status == 200
    await proxy.refuse()

    for method, path, options in _every_route():
        assert_unavailable(await hooks.request(method, path, **options))
    assert_unavailable(await post_event(hooks, subscription_event("sub_down", "tenant_down")))

    health = await hooks.get("/health", token=None)
    assert health.status == 503
    assert health.body == {"status": "error", "database": "error", "version": "0.1.0"}
    assert (await hooks.get("/internal/payments/providers")).status == 200

    await proxy.resume()
    assert await ProviderEvent.all().count() == 0
    assert await PricingItem.filter(code="gold").count() == 0
    # Back up: the same requests succeed, and the webhook the provider retries is applied.
    assert (await hooks.post("/internal/payments/pricing-items", json=ITEM)).status == 201
    retried = await post_event(hooks, subscription_event("sub_down", "tenant_down"))
    assert retried.status == 200 and retried.body["status"] == "processed"


@pytest.mark.postgres_only
async def test_a_connection_dropped_mid_webhook_is_503_and_keeps_nothing(
    hooks: Api, proxy: TcpProxy
) -> None:
    await starter_item()
    payload = subscription_event("sub_mid", "tenant_mid")
    # The event row, the subscription and the normalized event are written by then: the
    # connection drops at the transaction's last statement, before it reaches the server.
    proxy.cut_when(b'INSERT INTO "event_deliveries"')
    assert_unavailable(await post_event(hooks, payload))
    assert proxy.cuts == 1

    assert await ProviderEvent.all().count() == 0
    assert await Subscription.all().count() == 0
    assert await NormalizedEvent.all().count() == 0

    again = await post_event(hooks, payload)
    assert again.status == 200 and again.body["status"] == "processed"
    assert await Subscription.filter(provider_subscription_id="sub_mid").count() == 1
    assert await NormalizedEvent.all().count() == 1


@pytest.mark.postgres_only
async def test_a_connection_dropped_mid_create_is_503_and_keeps_nothing(
    hooks: Api, proxy: TcpProxy
) -> None:
    proxy.cut_when(b'INSERT INTO "idempotency_keys"')
    reply = await hooks.post(
        "/internal/payments/pricing-items", json=ITEM, headers={"Idempotency-Key": "k-mid"}
    )
    assert_unavailable(reply)
    assert proxy.cuts == 1
    assert await PricingItem.filter(code="gold").count() == 0
    again = await hooks.post(
        "/internal/payments/pricing-items", json=ITEM, headers={"Idempotency-Key": "k-mid"}
    )
    assert again.status == 201


class Outage:
    """The database refusing the app's writes: PostgreSQL unreachable (the proxy refuses
    connections), or SQLite's write lock held by another connection, as a second process or
    an operator's `sqlite3` shell would hold it."""

    def __init__(self, database_url: str, proxy: TcpProxy | None) -> None:
        self.database_url = database_url
        self.proxy = proxy
        self.holder: sqlite3.Connection | None = None

    async def begin(self) -> None:
        if self.proxy is not None:
            await self.proxy.refuse()
            return
        self.holder = sqlite3.connect(self.database_url.split("://", 1)[1], isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    async def end(self) -> None:
        if self.proxy is not None:
            await self.proxy.resume()
        elif self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None


@pytest.fixture
async def outage(database_url: str, database: str) -> AsyncIterator[Outage]:
    """An outage to begin and end; the app's own connection goes through the proxy
    (PostgreSQL) or waits 50 ms rather than 5 s for a lock (SQLite)."""
    proxy = await TcpProxy(database_url).start() if database_url.startswith("postgres") else None
    url = proxy.url if proxy is not None else f"{database_url}?busy_timeout=50"
    await db.close()
    await db.connect(url)
    found = Outage(database_url, proxy)
    try:
        yield found
    finally:
        await found.end()
        await db.close()
        EXECUTOR_CACHE.clear()
        await db.connect(database_url)
        if proxy is not None:
            await proxy.stop()


async def test_writes_during_an_outage_are_503_and_keep_nothing(hooks: Api, outage: Outage) -> None:
    await starter_item()
    await outage.begin()
    assert_unavailable(await post_event(hooks, subscription_event("sub_out", "tenant_out")))
    assert_unavailable(await hooks.post("/internal/payments/pricing-items", json=ITEM))
    assert_unavailable(
        await hooks.patch("/internal/payments/pricing-items/starter_month", json={"name": "S"})
    )
    await outage.end()
    assert await ProviderEvent.all().count() == 0
    assert await PricingItem.filter(code="gold").count() == 0
    assert (await PricingItem.get(code="starter_month")).name == "Starter"
    again = await post_event(hooks, subscription_event("sub_out", "tenant_out"))
    assert again.status == 200 and again.body["status"] == "processed"


class BeginBreaker:
    """Makes the next transaction's BEGIN fail for real: on PostgreSQL the proxy resets the
    connection that sends it; on SQLite the client's one connection is closed underneath
    it (until `restore`, after which Tortoise reopens it on the next query)."""

    def __init__(self, proxy: TcpProxy | None) -> None:
        self.proxy = proxy
        client = connections.get("default")
        self.client = client
        self.attempts = getattr(client, "pool_maxsize", 1) + 2
        """More failed BEGINs than the pool has connections (SQLite has one)."""

    async def break_next_begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut_when(b"BEGIN")
        elif self.client._connection is not None:
            await self.client._connection.close()

    async def restore(self) -> None:
        if self.proxy is None:
            await self.client.close()


@pytest.fixture
async def begin_breaker(database_url: str, database: str) -> AsyncIterator[BeginBreaker]:
    proxy = await TcpProxy(database_url).start() if database_url.startswith("postgres") else None
    await db.close()
    await db.connect(proxy.url if proxy is not None else database_url)
    try:
        yield BeginBreaker(proxy)
    finally:
        await db.close()
        EXECUTOR_CACHE.clear()
        await db.connect(database_url)
        if proxy is not None:
            await proxy.stop()


async def test_failed_begins_give_their_connection_back(
    hooks: Api, begin_breaker: BeginBreaker
) -> None:
    """A transaction whose BEGIN fails releases its pooled connection (SQLite: the client's
    lock), so more such failures than the pool holds still leave the database usable."""
    for _ in range(begin_breaker.attempts):
        await begin_breaker.break_next_begin()
        with pytest.raises(Exception) as failed:
            async with asyncio.timeout(10), in_transaction():
                await PricingItem.all().count()
        assert is_database_unavailable(failed.value), repr(failed.value)
    if begin_breaker.proxy is not None:
        assert begin_breaker.proxy.cuts == begin_breaker.attempts
    await begin_breaker.restore()

    async with asyncio.timeout(10):
        async with in_transaction():
            await PricingItem.create(**_model_item())
        assert await PricingItem.filter(code="gold").count() == 1
        reply = await hooks.get("/internal/payments/pricing-items")
    assert reply.status == 200 and [item["code"] for item in reply.body["data"]] == ["gold"]


def _model_item() -> dict[str, Any]:
    return {
        "code": "gold",
        "name": "Gold",
        "kind": "one_time",
        "unit_amount": 100,
        "currency": "eur",
    }


class BrokenQuery:
    """A plugin route whose query the database refuses for what it is (a missing table)."""

    @hookimpl
    def register_routes(self) -> list[Blueprint]:
        blueprint = Blueprint("broken_query", __name__)

        @blueprint.get("/internal/payments/broken-query")
        async def broken_query() -> Any:
            await connections.get("default").execute_query("SELECT * FROM no_such_table")

        return [blueprint]


async def test_other_database_errors_stay_500_internal_error(
    make_settings: Callable[..., Any], database: str
) -> None:
    """A bug is not an outage: it stays a logged 500, never disguised as a 503."""
    manager = build_plugin_manager(extra_plugins=[BrokenQuery()])
    app = create_app(make_settings(), manager, connect_database=False)
    async with app.test_app():
        reply = await Api(app, TOKEN).get("/internal/payments/broken-query")
    assert reply.status == 500
    assert reply.body["code"] == "internal_error"
    assert "retry-after" not in reply.headers
