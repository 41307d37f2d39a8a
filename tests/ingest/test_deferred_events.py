"""Deferred provider events: stored with what they wait for, replayed only when it is known.

Every test runs on SQLite and PostgreSQL; the lock test holds real row locks on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from quart import Quart
from tortoise import connections

from core.config import Settings
from core.errors import ConfigurationError
from core.ingest.deferred import DeferredSweeper, after_deferral
from core.models import (
    PricingItem,
    ProviderCustomer,
    ProviderEvent,
    Purchase,
    Subscription,
)
from core.plugins import Registry
from core.timeutil import utcnow
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.databases import sibling_url
from tests.support.webhooks import SECRET, event_types, post_event

T0 = 1_790_000_000
MONTH = 30 * 86400


@pytest.fixture
async def app(make_app: Any) -> Quart:
    built: Quart = await make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
    await PricingItem.create(
        code="starter_month",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
    )
    await PricingItem.create(
        code="lifetime_addon", name="Lifetime", kind="one_time", unit_amount=4900, currency="eur"
    )
    return built


@pytest.fixture
def hooks(app: Quart) -> Api:
    return Api(app, TOKEN)


@pytest.fixture
def registry(app: Quart) -> Registry:
    found: Registry = app.extensions["payments"].registry
    return found


def sweeper(registry: Registry, ttl_hours: float = 72, **kwargs: Any) -> DeferredSweeper:
    return DeferredSweeper(registry, ttl_hours, **kwargs)


def subscription_event(
    sub: str,
    customer: str,
    *,
    kind: str = "updated",
    tenant: str | None = None,
    created: int = T0 + 5,
    event_id: str | None = None,
) -> dict[str, Any]:
    metadata = se.tenant_metadata(tenant, "starter_month") if tenant else None
    obj = se.subscription(
        sub,
        status="active",
        customer=customer,
        period_start=T0,
        period_end=T0 + MONTH,
        metadata=metadata,
    )
    return se.event(f"customer.subscription.{kind}", obj, created=created, event_id=event_id)


def invoice_event(sub: str, customer: str, *, created: int = T0 + MONTH) -> dict[str, Any]:
    obj = se.invoice(
        se.next_id("in"),
        subscription_id=sub,
        customer=customer,
        period_start=T0 + MONTH,
        period_end=T0 + 2 * MONTH,
    )
    return se.event("invoice.paid", obj, created=created)


def completed_checkout(session: str, customer: str | None, tenant: str, **extra: Any) -> Any:
    obj = se.checkout_session(
        session,
        mode=extra.pop("mode", "subscription"),
        customer=customer,
        metadata=se.tenant_metadata(tenant, extra.pop("item", "starter_month")),
        **extra,
    )
    return se.event("checkout.session.completed", obj, created=T0 + 1)


def payment_intent_event(payment: str, tenant: str, *, created: int = T0 + 2) -> dict[str, Any]:
    obj = se.fixture("payment_intent")
    obj.update(
        {
            "id": payment,
            "status": "succeeded",
            "amount": 4900,
            "currency": "eur",
            "customer": None,
            "metadata": se.tenant_metadata(tenant, "lifetime_addon"),
        }
    )
    return se.event("payment_intent.succeeded", obj, created=created)


async def stored(event: dict[str, Any]) -> ProviderEvent:
    return await ProviderEvent.get(provider_event_id=event["id"])


async def status_of(event: dict[str, Any]) -> str:
    return (await stored(event)).status


async def remember_customer_directly(customer: str, tenant: str) -> None:
    """A customer row committed without a replay after it (the process died there)."""
    await ProviderCustomer.create(
        provider_key="stripe",
        consumer_key="funnel",
        consumer_tenant_id=tenant,
        provider_customer_id=customer,
    )


# --- deferring ---------------------------------------------------------------------------


async def test_event_for_an_unknown_tenant_is_200_deferred_with_what_it_waits_for(
    hooks: Api,
) -> None:
    event = subscription_event("sub_anon", "cus_anon")
    reply = await post_event(hooks, event)
    assert (reply.status, reply.body) == (200, {"received": True, "status": "deferred"})
    row = await stored(event)
    assert row.status == "deferred"
    assert row.processed_at is None
    assert (row.waits_subscription_id, row.waits_customer_id) == ("sub_anon", "cus_anon")
    assert (row.waits_payment_id, row.waits_checkout_session_id) == (None, None)
    assert await Subscription.all().count() == 0
    invoice = invoice_event("sub_anon", "cus_anon")
    assert (await post_event(hooks, invoice)).body["status"] == "deferred"
    row = await stored(invoice)
    assert (row.waits_subscription_id, row.waits_customer_id) == ("sub_anon", None)
    refund = se.event(
        "charge.refunded",
        se.charge("ch_anon", payment_intent="pi_anon", amount=4900, amount_refunded=4900),
        created=T0,
    )
    assert (await post_event(hooks, refund)).body["status"] == "deferred"
    assert (await stored(refund)).waits_payment_id == "pi_anon"
    assert (await post_event(hooks, refund)).body["status"] == "duplicate"


# --- replayed when what it waits for becomes known ----------------------------------------


async def test_applied_when_its_customer_becomes_known_and_only_its_waiters_are_touched(
    hooks: Api,
) -> None:
    mine = subscription_event("sub_mine", "cus_mine")
    other = subscription_event("sub_other", "cus_other")
    for event in (mine, other):
        assert (await post_event(hooks, event)).body["status"] == "deferred"
    # The other event's customer is known now, but no commit said so: a replay driven by
    # cus_mine must not pick it up (only the sweeper would).
    await remember_customer_directly("cus_other", "tenant_other")
    await post_event(hooks, completed_checkout("cs_mine", "cus_mine", "tenant_mine"))
    assert await status_of(mine) == "processed"
    record = await Subscription.get(provider_subscription_id="sub_mine")
    assert (record.consumer_tenant_id, record.status) == ("tenant_mine", "active")
    assert await status_of(other) == "deferred"
    assert not await Subscription.filter(provider_subscription_id="sub_other").exists()


async def test_applied_when_its_subscription_becomes_known(hooks: Api) -> None:
    invoice = invoice_event("sub_late", "cus_late")
    assert (await post_event(hooks, invoice)).body["status"] == "deferred"
    created = subscription_event("sub_late", "cus_late", kind="created", tenant="tenant_late")
    assert (await post_event(hooks, created)).body["status"] == "processed"
    assert await status_of(invoice) == "processed"
    record = await Subscription.get(provider_subscription_id="sub_late")
    assert record.current_period_end is not None
    assert int(record.current_period_end.timestamp()) == T0 + 2 * MONTH
    assert await event_types("tenant_late") == [
        "subscription.created",
        "invoice.paid",
        "subscription.updated",
    ]


async def test_applied_when_its_payment_becomes_known(hooks: Api) -> None:
    refund = se.event(
        "charge.refunded",
        se.charge("ch_early", payment_intent="pi_early", amount=4900, amount_refunded=1000),
        created=T0 + 10,
    )
    assert (await post_event(hooks, refund)).body["status"] == "deferred"
    await post_event(hooks, payment_intent_event("pi_early", "tenant_pay"))
    assert await status_of(refund) == "processed"
    purchase = await Purchase.get(provider_payment_id="pi_early")
    assert (purchase.status, purchase.amount_refunded) == ("partially_refunded", 1000)


async def test_applied_when_its_checkout_session_becomes_known(hooks: Api) -> None:
    early = se.event(
        "checkout.session.async_payment_succeeded",
        se.checkout_session(
            "cs_early", mode="payment", customer="cus_early", payment_intent="pi_cs_early"
        ),
        created=T0 + 20,
    )
    assert (await post_event(hooks, early)).body["status"] == "deferred"
    row = await stored(early)
    assert (row.waits_checkout_session_id, row.waits_customer_id) == ("cs_early", "cus_early")
    # The session becomes known without its customer: only the checkout id says so.
    completed = completed_checkout(
        "cs_early",
        None,
        "tenant_cs",
        mode="payment",
        item="lifetime_addon",
        payment_status="unpaid",
        payment_intent="pi_cs_early",
        amount_total=4900,
    )
    await post_event(hooks, completed)
    assert await status_of(early) == "processed"
    purchase = await Purchase.get(provider_payment_id="pi_cs_early")
    assert (purchase.consumer_tenant_id, purchase.status) == ("tenant_cs", "paid")


async def test_a_chain_of_waiting_events_is_applied_in_one_go(hooks: Api) -> None:
    sub = subscription_event("sub_chain", "cus_chain")
    invoice = invoice_event("sub_chain", "cus_chain")
    for event in (sub, invoice):
        assert (await post_event(hooks, event)).body["status"] == "deferred"
    await post_event(hooks, completed_checkout("cs_chain", "cus_chain", "tenant_chain"))
    assert [await status_of(sub), await status_of(invoice)] == ["processed", "processed"]
    assert await event_types("tenant_chain") == [
        "checkout.completed",
        "subscription.created",
        "invoice.paid",
        "subscription.updated",
    ]


# --- many unplaceable events, and a tenant's webhooks all at once ------------------------


async def _blocked_by(watcher: asyncpg.Connection, holder_pid: int) -> int:
    found = await watcher.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder_pid
    )
    return int(found or 0)


async def test_unplaceable_events_cost_a_later_tenant_nothing(hooks: Api, database: str) -> None:
    """100 events no tenant of ours owns, then a tenant's webhooks at once: each applies its
    own waiting invoice, and none touches the unplaceable ones. On PostgreSQL those are held
    locked by another connection throughout: any statement that waited for them would show
    as blocked by it (and would hang without this test releasing it)."""
    foreign = [
        subscription_event(f"sub_foreign_{n}", f"cus_foreign_{n}", created=T0 + n)
        for n in range(100)
    ]
    for event in foreign:
        assert (await post_event(hooks, event)).body["status"] == "deferred"
    tenant_subs = [f"sub_tenant_{n}" for n in range(20)]
    invoices = [invoice_event(sub, f"cus_tenant_{n}") for n, sub in enumerate(tenant_subs)]
    for event in invoices:
        assert (await post_event(hooks, event)).body["status"] == "deferred"
    created = [
        subscription_event(sub, f"cus_tenant_{n}", kind="created", tenant=f"tenant_{n}")
        for n, sub in enumerate(tenant_subs)
    ]
    postgres = connections.get("default").capabilities.dialect == "postgres"
    holder = watcher = None
    blocked: list[int] = []
    if postgres:
        holder = await asyncpg.connect(database)
        watcher = await asyncpg.connect(database)
        hold = holder.transaction()
        await hold.start()
        locked = await holder.fetch(
            "SELECT id FROM provider_events WHERE provider_event_id = ANY($1::text[]) FOR UPDATE",
            [event["id"] for event in foreign],
        )
        assert len(locked) == 100
    sending = asyncio.gather(*(post_event(hooks, event) for event in created))
    try:
        if holder is not None and watcher is not None:
            pid = holder.get_server_pid()
            while not sending.done():
                waiting = await _blocked_by(watcher, pid)
                if waiting:
                    blocked.append(waiting)
                    await hold.rollback()  # let them go, so the test ends and fails below
                    break
                await asyncio.sleep(0.005)
        replies = await sending
    finally:
        for connection in (holder, watcher):
            if connection is not None:
                await connection.close()
    assert blocked == [], "a tenant's webhook waited on a lock held on unplaceable events"
    assert {reply.body["status"] for reply in replies} == {"processed"}
    assert [await status_of(event) for event in invoices] == ["processed"] * 20
    assert await ProviderEvent.filter(status="deferred").count() == 100
    assert await Subscription.all().count() == 20


async def test_an_event_deferred_while_its_customer_becomes_known_is_not_stranded(
    hooks: Api,
) -> None:
    """Each pair races: an event about a customer not known yet, and the checkout that makes
    the customer known, sent at once. Whichever commits first, the event ends applied
    without any sweeper."""
    pairs = []
    for n in range(15):
        pairs += [
            subscription_event(f"sub_race_{n}", f"cus_race_{n}"),
            completed_checkout(f"cs_race_{n}", f"cus_race_{n}", f"tenant_race_{n}"),
        ]
    await asyncio.gather(*(post_event(hooks, event) for event in pairs))
    assert await ProviderEvent.filter(status="deferred").count() == 0
    assert await Subscription.all().count() == 15


async def test_a_deferred_event_whose_wait_is_already_over_is_applied_at_once(
    hooks: Api, registry: Registry
) -> None:
    """What a race leaves: the event committed `deferred` after its customer was committed
    and after that commit's replay looked for waiters. Its own check after commit places it."""
    event = subscription_event("sub_after", "cus_after")
    await post_event(hooks, event)
    row = await stored(event)
    await remember_customer_directly("cus_after", "tenant_after")
    await after_deferral(registry, "stripe", str(row.id), {"customer": "cus_after"})
    assert await status_of(event) == "processed"
    assert (await Subscription.get(provider_subscription_id="sub_after")).consumer_tenant_id == (
        "tenant_after"
    )


# --- the safety net and the TTL ----------------------------------------------------------


async def test_the_safety_net_replays_events_whose_ids_are_known(
    hooks: Api, registry: Registry
) -> None:
    waiting = [subscription_event(f"sub_net_{n}", f"cus_net_{n}", created=T0 + n) for n in range(7)]
    for event in waiting:
        await post_event(hooks, event)
    for n in (1, 4, 6):  # committed by a process that died before its replay
        await remember_customer_directly(f"cus_net_{n}", f"tenant_net_{n}")
    net = sweeper(registry, scan_batch=3)  # three passes walk the seven events
    replayed = 0
    for _ in range(3):
        replayed += (await net.sweep()).replayed
    assert replayed == 3
    statuses = [await status_of(event) for event in waiting]
    placed = [status == "processed" for status in statuses]
    assert placed == [False, True, False, False, True, False, True]
    assert (await net.sweep()).replayed == 0  # wrapped around: nothing more to do


async def test_the_ttl_turns_old_deferred_events_unmatched_for_good(
    hooks: Api, registry: Registry
) -> None:
    old = subscription_event("sub_old", "cus_old")
    recent = subscription_event("sub_recent", "cus_recent")
    for event in (old, recent):
        await post_event(hooks, event)
    await ProviderEvent.filter(provider_event_id=old["id"]).update(
        received_at=utcnow() - timedelta(hours=3)
    )
    result = await sweeper(registry, ttl_hours=2.5).sweep()
    assert result.unmatched == 1
    row = await stored(old)
    assert (row.status, row.waits_customer_id) == ("unmatched", "cus_old")
    assert row.processed_at is not None
    assert await status_of(recent) == "deferred"
    # Its customer becomes known through a webhook, and later the sweeper runs: unmatched
    # stays unmatched (only an explicit replay would try it).
    await post_event(hooks, completed_checkout("cs_old", "cus_old", "tenant_old"))
    await remember_customer_directly("cus_recent", "tenant_recent")
    assert (await sweeper(registry, ttl_hours=2.5).sweep()).replayed == 1
    assert await status_of(old) == "unmatched"
    assert not await Subscription.filter(provider_subscription_id="sub_old").exists()
    assert await status_of(recent) == "processed"


async def test_a_replay_that_fails_is_logged_with_its_id_and_stays_deferred(
    hooks: Api, caplog: pytest.LogCaptureFixture
) -> None:
    broken = subscription_event("sub_broken", "cus_shared")
    fine = subscription_event("sub_fine", "cus_shared", created=T0 + 9)
    for event in (broken, fine):
        await post_event(hooks, event)
    row = await stored(broken)
    await ProviderEvent.filter(id=row.id).update(payload="{not json")
    with caplog.at_level(logging.ERROR, logger="core.ingest.deferred"):
        reply = await post_event(hooks, completed_checkout("cs_shared", "cus_shared", "tenant_s"))
    assert reply.status == 200
    assert await status_of(fine) == "processed"
    assert await status_of(broken) == "deferred"
    logged = [record.getMessage() for record in caplog.records]
    assert any(str(row.id) in line and broken["id"] in line for line in logged), logged


async def test_an_event_still_unknown_after_a_replay_waits_for_what_it_needs_now(
    hooks: Api, registry: Registry
) -> None:
    event = subscription_event("sub_moved", "cus_moved")
    await post_event(hooks, event)
    # Say it waited for something else (an older applier's idea of it), which is known now.
    await ProviderEvent.filter(provider_event_id=event["id"]).update(
        waits_customer_id="cus_elsewhere", waits_subscription_id=None
    )
    await remember_customer_directly("cus_elsewhere", "tenant_elsewhere")
    assert (await sweeper(registry).sweep()).replayed == 0
    row = await stored(event)
    assert row.status == "deferred"
    assert (row.waits_customer_id, row.waits_subscription_id) == ("cus_moved", "sub_moved")
    await post_event(hooks, completed_checkout("cs_moved", "cus_moved", "tenant_moved"))
    assert await status_of(event) == "processed"


async def test_serve_runs_the_safety_net_beside_its_dispatcher(
    make_app: Any, database: str, make_settings: Callable[..., Settings], hooks: Api
) -> None:
    from web.app import create_app

    event = subscription_event("sub_served", "cus_served")
    await post_event(hooks, event)
    await remember_customer_directly("cus_served", "tenant_served")
    settings = make_settings(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
    served = create_app(settings, connect_database=False, dispatcher=True)
    async with served.test_app():
        assert isinstance(served.extensions["payments_deferred_sweeper"], DeferredSweeper)
        for _ in range(2000):  # its first pass runs at start
            if await status_of(event) == "processed":
                break
            await asyncio.sleep(0.01)
    assert "payments_deferred_sweeper" not in served.extensions
    assert await status_of(event) == "processed"


# --- the plans ---------------------------------------------------------------------------


@pytest.mark.postgres_only
def test_every_hot_statement_on_provider_events_is_planned_on_its_index(
    database_url: str, repo_root: Any
) -> None:
    """`bench/explain_provider_events.py` on a database of its own, with 100,000 stored
    events (the bench runs it with 1,000,000: docs/performance.md): no Seq Scan on
    provider_events, no BitmapAnd, each statement on its index, with the statistics of a
    fresh table and after ANALYZE, custom and generic plans."""
    url = sibling_url("explain")
    done = subprocess.run(
        [sys.executable, "-m", "bench.explain_provider_events", "--url", url, "--rows", "100000"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("### ")]
    assert len(verdicts) == 44
    assert all(line.endswith(": ok") for line in verdicts)


# --- the setting -------------------------------------------------------------------------


def test_the_ttl_setting() -> None:
    assert Settings.from_env({}).deferred_ttl_hours == 72
    assert Settings.from_env({"PAYMENTS_DEFERRED_TTL_HOURS": "0.5"}).deferred_ttl_hours == 0.5
    for bad in ("x", "0", "-1", "nan", "inf", "1e9"):
        with pytest.raises(ConfigurationError, match="PAYMENTS_DEFERRED_TTL_HOURS"):
            Settings.from_env({"PAYMENTS_DEFERRED_TTL_HOURS": bad})
