"""A completed subscription checkout whose subscription is not known yet: the subscription is
read from the provider off the request path (the runner beside the dispatcher) and applied
through the webhook path, and exactly one `subscription.created` reaches the product, with
or without the subscription's own webhook, before, after or during the read.

End to end: the app serves with its embedded dispatcher and runner, Stripe is the stand-in
(which checks every request against Stripe's OpenAPI description), FunnelAI a real server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from quart import Quart
from sandbox_provider import actions, signing
from sandbox_provider import store as sandbox_store
from sandbox_provider.settings import DEVELOPMENT_WEBHOOK_SECRET
from stripe_provider.objects import subscription_fact

from core.config import Settings
from core.errors import ConfigurationError
from core.ingest.apply import apply_facts
from core.ingest.provider_reads import ProviderReadRunner
from core.models import (
    CheckoutSession,
    EventDelivery,
    NormalizedEvent,
    ProviderRead,
    SandboxObject,
    Subscription,
)
from core.store.unit_of_work import unit_of_work
from tests.checkout.test_checkout_sessions import SESSIONS, add_item, checkout_body
from tests.conftest import TOKEN
from tests.delivery.test_delivery_workers import start_worker  # noqa: F401 - the fixture
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.catalog import starter_item
from tests.support.consumer_server import ConsumerServer
from tests.support.deliveries import FAST, eventually, funnel_plugins
from tests.support.stripe_standin import StripeStandIn
from tests.support.stripe_standin.plugins_toml import stripe_plugins
from tests.support.webhooks import SECRET, post_event

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
PLAN_STATUS = "/internal/payments/tenants/tenant_123/plan-status"
RETRY_FAST = {**FAST, "PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE": "0.05,0.05"}


@pytest.fixture
async def serving(
    database: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Any]]:
    """Start apps as `payments serve` does: with the embedded dispatcher and its runner."""
    from web.app import create_app

    started: list[Any] = []

    async def start(plugins: str, **env: str) -> Api:
        app: Quart = create_app(
            make_settings(plugins, **{**RETRY_FAST, **env}),
            connect_database=False,
            dispatcher=True,
        )
        context = app.test_app()
        await context.__aenter__()
        started.append(context)
        return Api(app, TOKEN)

    yield start
    for context in reversed(started):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def funnel() -> AsyncIterator[ConsumerServer]:
    async with ConsumerServer() as server:
        yield server


async def stripe_app(
    serving: Callable[..., Any], standin: StripeStandIn, funnel: ConsumerServer, **stripe: Any
) -> Api:
    plugins = stripe_plugins(
        standin, consumers=(), webhook_secrets=SECRET, **stripe
    ) + funnel_plugins(funnel.url)
    api: Api = await serving(plugins)
    await add_item(api, standin)
    return api


async def completed_checkout(api: Api, standin: StripeStandIn) -> tuple[Any, Any]:
    """A subscription checkout opened through the API and paid at the stand-in."""
    opened = await api.post(SESSIONS, json=checkout_body())
    assert opened.status == 201, opened.body
    session = standin.complete_session(opened.body["providerCheckoutSessionId"])
    return session, standin.objects[session["subscription"]]


async def subscription_created_delivered(funnel: ConsumerServer) -> list[Any]:
    async def check() -> list[Any] | None:
        created = [r for r in funnel.requests if r.json()["type"] == "subscription.created"]
        return created or None

    found: list[Any] = await eventually(check, what="subscription.created delivered")
    return found


async def read_done(subscription_id: str) -> ProviderRead:
    async def check() -> ProviderRead | None:
        task = await ProviderRead.get_or_none(provider_object_id=subscription_id)
        return task if task is not None and task.status == "done" else None

    found: ProviderRead = await eventually(check, what="provider read done")
    return found


async def created_events(subscription_id: str) -> list[NormalizedEvent]:
    return [
        e
        for e in await NormalizedEvent.filter(type="subscription.created")
        if e.data["subscription"]["providerSubscriptionId"] == subscription_id
    ]


async def test_checkout_events_alone_entitle_the_tenant(
    serving: Callable[..., Any], stripe_standin: StripeStandIn, funnel: ConsumerServer
) -> None:
    api = await stripe_app(serving, stripe_standin, funnel, request_timeout=20)
    session, subscription = await completed_checkout(api, stripe_standin)
    read_path = f"/v1/subscriptions/{subscription['id']}"
    # Stripe is slow to answer the read: the webhook must not wait for it.
    stripe_standin.inject("get", read_path, "slow")

    reply = await post_event(
        api, se.event("checkout.session.completed", session, created=int(time.time()))
    )

    assert reply.status == 200
    assert reply.body["status"] == "processed"
    assert await Subscription.all().count() == 0  # answered before the provider was
    task = await ProviderRead.get(provider_object_id=subscription["id"])
    assert (task.provider_key, task.kind) == ("stripe", "subscription")
    await eventually(lambda: _requested(stripe_standin, read_path), what="the runner's read")
    stripe_standin.release_slow()

    delivered = await subscription_created_delivered(funnel)
    await read_done(subscription["id"])
    record = await Subscription.get(provider_subscription_id=subscription["id"])
    assert (record.consumer_tenant_id, record.status) == ("tenant_123", "active")
    local = await CheckoutSession.get(provider_checkout_session_id=session["id"])
    assert local.subscription_id == record.id  # type: ignore[attr-defined]
    plan = (await api.get(PLAN_STATUS)).body
    assert (plan["status"], plan["entitled"]) == ("active", True)
    assert len(delivered) == 1
    assert len(await created_events(subscription["id"])) == 1
    await eventually(_all_delivered, what="every delivery sent")
    assert len(stripe_standin.requests_to("get", read_path)) == 1


async def test_the_subscriptions_own_webhook_first_needs_no_read(
    serving: Callable[..., Any], stripe_standin: StripeStandIn, funnel: ConsumerServer
) -> None:
    api = await stripe_app(serving, stripe_standin, funnel)
    session, subscription = await completed_checkout(api, stripe_standin)
    now = int(time.time())
    await post_event(api, se.event("customer.subscription.created", subscription, created=now))
    await post_event(api, se.event("checkout.session.completed", session, created=now))

    await subscription_created_delivered(funnel)
    assert await ProviderRead.all().count() == 0
    assert stripe_standin.requests_to("get", f"/v1/subscriptions/{subscription['id']}") == []
    assert len(await created_events(subscription["id"])) == 1


async def test_the_subscriptions_own_webhook_after_the_read_changes_nothing_more(
    serving: Callable[..., Any], stripe_standin: StripeStandIn, funnel: ConsumerServer
) -> None:
    api = await stripe_app(serving, stripe_standin, funnel)
    session, subscription = await completed_checkout(api, stripe_standin)
    now = int(time.time())
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    await read_done(subscription["id"])

    await post_event(api, se.event("customer.subscription.created", subscription, created=now))
    canceling = {**subscription, "cancel_at_period_end": True}
    await post_event(api, se.event("customer.subscription.updated", canceling, created=now + 5))

    record = await Subscription.get(provider_subscription_id=subscription["id"])
    assert record.cancel_at_period_end is True  # the newest state
    assert len(await created_events(subscription["id"])) == 1
    await eventually(lambda: _delivered_count(3), what="three events delivered")
    types = sorted(r.json()["type"] for r in funnel.requests)
    assert types == ["checkout.completed", "subscription.created", "subscription.updated"]


async def test_the_subscriptions_own_webhook_during_the_read(
    serving: Callable[..., Any], stripe_standin: StripeStandIn, funnel: ConsumerServer
) -> None:
    api = await stripe_app(serving, stripe_standin, funnel, request_timeout=20)
    session, subscription = await completed_checkout(api, stripe_standin)
    read_path = f"/v1/subscriptions/{subscription['id']}"
    stripe_standin.inject("get", read_path, "slow")
    now = int(time.time())
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    await eventually(lambda: _requested(stripe_standin, read_path), what="the runner's read")
    # While the runner waits for Stripe, the subscription's own events arrive.
    canceling = {**subscription, "cancel_at_period_end": True}
    await post_event(api, se.event("customer.subscription.updated", canceling, created=now + 5))
    stripe_standin.release_slow()

    task = await read_done(subscription["id"])
    record = await Subscription.get(provider_subscription_id=subscription["id"])
    assert record.cancel_at_period_end is True, "the read (older) did not roll it back"
    assert len(await created_events(subscription["id"])) == 1
    assert task.attempts == 1
    await eventually(lambda: _delivered_count(2), what="two events delivered")
    assert sorted(r.json()["type"] for r in funnel.requests) == [
        "checkout.completed",
        "subscription.created",
    ]


async def test_a_failing_provider_is_retried_then_read(
    serving: Callable[..., Any], stripe_standin: StripeStandIn, funnel: ConsumerServer
) -> None:
    api = await stripe_app(serving, stripe_standin, funnel)
    session, subscription = await completed_checkout(api, stripe_standin)
    read_path = f"/v1/subscriptions/{subscription['id']}"
    stripe_standin.inject("get", read_path, "server_error")
    await post_event(api, se.event("checkout.session.completed", session, created=int(time.time())))

    task = await read_done(subscription["id"])
    assert task.attempts == 2
    assert task.last_error is None
    await subscription_created_delivered(funnel)
    assert len(stripe_standin.requests_to("get", read_path)) == 2
    assert (await api.get(PLAN_STATUS)).body["entitled"] is True


async def test_a_provider_that_keeps_failing_leaves_the_read_failed_and_logged(
    serving: Callable[..., Any],
    stripe_standin: StripeStandIn,
    funnel: ConsumerServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="platform_payments.provider_reads")
    api = await stripe_app(serving, stripe_standin, funnel)
    session, subscription = await completed_checkout(api, stripe_standin)
    read_path = f"/v1/subscriptions/{subscription['id']}"
    stripe_standin.inject("get", read_path, "server_error", times=10)
    await post_event(api, se.event("checkout.session.completed", session, created=int(time.time())))

    async def failed() -> ProviderRead | None:
        task = await ProviderRead.get_or_none(provider_object_id=subscription["id"])
        return task if task is not None and task.status == "failed" else None

    task = await eventually(failed, what="the read failed for good")
    assert task.attempts == 3  # the first, then the schedule's two retries
    assert task.last_error and "provider" in task.last_error.lower()
    assert len(stripe_standin.requests_to("get", read_path)) == 3
    assert any("failed for good" in r.getMessage() for r in caplog.records)
    assert await Subscription.all().count() == 0
    state = api.app.extensions["payments"]
    await ProviderReadRunner(state.settings, state.registry).run_due()
    assert len(stripe_standin.requests_to("get", read_path)) == 3, "never tried again"


async def test_the_sandbox_subscription_is_read_too(
    make_app: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    """The sandbox's subscription event is lost; its checkout's event alone entitles."""
    plugins = (
        '[providers.sandbox]\nplugin = "sandbox"\ndefault = true\n'
        '[consumers.funnel]\nplugin = "funnel"\n'
    )
    app = await make_app(plugins)
    api = Api(app, TOKEN)
    item = starter_item()
    assert (await api.post("/internal/payments/pricing-items", json=item)).status == 201
    opened = await api.post(SESSIONS, json=checkout_body(providerKey="sandbox"))
    assert opened.status == 201, opened.body
    paid = await actions.pay(opened.body["providerCheckoutSessionId"])
    pending = await SandboxObject.filter(kind=sandbox_store.PENDING_EVENT)
    (completed,) = [p for p in pending if p.data["type"] == "checkout.session.completed"]
    body = se.encode(completed.data)
    signature = signing.sign(body, DEVELOPMENT_WEBHOOK_SECRET)
    reply = await api.post(
        "/webhooks/sandbox",
        data=body,
        headers={signing.SIGNATURE_HEADER: signature, "content-type": "application/json"},
        token=None,
    )
    assert reply.status == 200, reply.body
    assert await Subscription.all().count() == 0

    runner = ProviderReadRunner(make_settings(plugins), app.extensions["payments"].registry)
    assert await runner.run_due() == 1

    record = await Subscription.get(provider_subscription_id=paid["subscription"])
    assert (record.provider_key, record.status) == ("sandbox", "active")
    assert len(await created_events(paid["subscription"])) == 1
    plan = (await api.get(PLAN_STATUS)).body
    assert (plan["status"], plan["entitled"]) == ("active", True)
    assert (await ProviderRead.get(provider_object_id=paid["subscription"])).status == "done"


async def _requested(standin: StripeStandIn, path: str) -> bool:
    return bool(standin.requests_to("get", path))


async def _all_delivered() -> bool:
    return not await EventDelivery.exclude(status="delivered").exists()


async def _delivered_count(count: int) -> bool:
    return await EventDelivery.filter(status="delivered").count() == count and (
        await _all_delivered()
    )


@pytest.mark.postgres_only
async def test_a_read_racing_the_webhook_that_creates_the_subscription(
    checkout_app: Callable[..., Any],
    stripe_standin: StripeStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The webhook's transaction has inserted the subscription, not yet committed, when the
    runner applies its read: the runner waits on the unique key, loses, and applies again as
    an update. One `subscription.created`, the task done."""
    api = await checkout_app(stripe_plugins(stripe_standin, webhook_secrets=SECRET))
    await add_item(api, stripe_standin)
    session, subscription = await completed_checkout(api, stripe_standin)
    now = int(time.time())
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    caplog.set_level(logging.INFO, logger="core.ingest.observed")
    inserted, commit = asyncio.Event(), asyncio.Event()

    async def webhook_transaction() -> None:
        async with unit_of_work() as conn:
            await apply_facts(
                "stripe",
                [subscription_fact(subscription)],
                occurred_at=datetime.now(UTC),
                provider_event_id="evt_racing",
                using_db=conn,
            )
            inserted.set()
            await commit.wait()

    holder = asyncio.create_task(webhook_transaction())
    await inserted.wait()
    state = api.app.extensions["payments"]
    reading = asyncio.create_task(ProviderReadRunner(state.settings, state.registry).run_due())
    await eventually(_someone_waits_on_a_lock, what="the runner waiting on the unique key")
    commit.set()
    await holder
    assert await reading == 1
    assert any("write conflict" in r.getMessage() for r in caplog.records)

    assert (await ProviderRead.get(provider_object_id=subscription["id"])).status == "done"
    assert await Subscription.filter(provider_subscription_id=subscription["id"]).count() == 1
    assert len(await created_events(subscription["id"])) == 1


async def _someone_waits_on_a_lock() -> bool:
    rows = await Subscription._meta.db.execute_query_dict(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return int(rows[0]["n"]) > 0


@pytest.mark.postgres_only
async def test_two_worker_processes_read_once(
    checkout_app: Callable[..., Any],
    stripe_standin: StripeStandIn,
    funnel: ConsumerServer,
    start_worker: Callable[..., Any],  # noqa: F811 - the fixture
) -> None:
    """`payments worker` runs the reads too; two of them share the table under leases."""
    plugins = stripe_plugins(stripe_standin, consumers=(), webhook_secrets=SECRET) + funnel_plugins(
        funnel.url
    )
    api = await checkout_app(plugins)
    await add_item(api, stripe_standin)
    workers = [await start_worker(plugins, **RETRY_FAST) for _ in range(2)]
    for worker in workers:
        await worker.ready()
    session, subscription = await completed_checkout(api, stripe_standin)

    await post_event(api, se.event("checkout.session.completed", session, created=int(time.time())))

    await subscription_created_delivered(funnel)
    await read_done(subscription["id"])
    assert len(stripe_standin.requests_to("get", f"/v1/subscriptions/{subscription['id']}")) == 1
    assert len(await created_events(subscription["id"])) == 1


def test_the_retry_schedule_is_configured_and_checked() -> None:
    assert Settings.from_env({}).provider_read_retry_schedule == (10, 60, 300, 1800)
    chosen = Settings.from_env({"PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE": "1, 2"})
    assert chosen.provider_read_retry_schedule == (1.0, 2.0)
    with pytest.raises(ConfigurationError, match="PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE"):
        Settings.from_env({"PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE": "soon"})
