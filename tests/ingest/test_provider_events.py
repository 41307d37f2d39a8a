"""Stored provider events: the operator's list and detail, and the replay.

Every test runs on SQLite and PostgreSQL (two replays at once hold real row locks there).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import orjson
import pytest

from core.models import NormalizedEvent, ProviderEvent, Subscription
from core.plugins import Registry
from core.timeutil import isoformat, utcnow
from tests.ingest.test_deferred_events import (  # noqa: F401  (fixtures, used by name)
    app,
    completed_checkout,
    hooks,
    invoice_event,
    registry,
    remember_customer_directly,
    stored,
    subscription_event,
    sweeper,
)
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.webhooks import post_event

BASE = "/internal/payments/provider-events"
ITEM_FIELDS = {
    "id",
    "providerKey",
    "providerEventId",
    "type",
    "apiVersion",
    "status",
    "eventCreatedAt",
    "receivedAt",
    "processedAt",
    "waitsFor",
}


async def _unmatched(hooks: Api, sub: str, customer: str) -> ProviderEvent:  # noqa: F811
    """A subscription event whose customer nobody knows, past the TTL: unmatched."""
    event = subscription_event(sub, customer)
    assert (await post_event(hooks, event)).body["status"] == "deferred"
    await ProviderEvent.filter(provider_event_id=event["id"]).update(
        received_at=utcnow() - timedelta(hours=100)
    )
    return await stored(event)


# --- the list ----------------------------------------------------------------------------


async def test_list_is_newest_first_with_filters_and_a_cursor(hooks: Api) -> None:  # noqa: F811
    ignored = se.event("customer.created", se.fixture("customer"), created=1_790_000_000)
    waiting = subscription_event("sub_list", "cus_list")
    done = completed_checkout("cs_list", "cus_known", "tenant_list")
    for event in (ignored, waiting, done):
        assert (await post_event(hooks, event)).status == 200
    rows = {e["id"]: await stored(e) for e in (ignored, waiting, done)}
    # Received one second apart, so the order does not hang on the clock's resolution.
    base = utcnow()
    for n, event in enumerate((ignored, waiting, done)):
        await ProviderEvent.filter(id=rows[event["id"]].id).update(
            received_at=base - timedelta(seconds=10 - n)
        )
    newest_first = [str(rows[e["id"]].id) for e in (done, waiting, ignored)]

    everything = await hooks.get(BASE)
    assert everything.status == 200
    assert [item["id"] for item in everything.body["data"]] == newest_first
    assert everything.body["nextCursor"] is None
    assert all(set(item) == ITEM_FIELDS for item in everything.body["data"])

    page1 = await hooks.get(BASE, query={"limit": 2})
    assert [item["id"] for item in page1.body["data"]] == newest_first[:2]
    page2 = await hooks.get(BASE, query={"limit": 2, "cursor": page1.body["nextCursor"]})
    assert [item["id"] for item in page2.body["data"]] == newest_first[2:]
    assert page2.body["nextCursor"] is None

    deferred = await hooks.get(BASE, query={"status": "deferred"})
    [item] = deferred.body["data"]
    assert item["providerEventId"] == waiting["id"]
    assert item["waitsFor"] == {"customer": "cus_list", "subscription": "sub_list"}
    assert item["processedAt"] is None
    assert item["type"] == "customer.subscription.updated"
    assert item["providerKey"] == "stripe"
    assert item["eventCreatedAt"].endswith("Z")
    by_type = await hooks.get(BASE, query={"type": "customer.created"})
    [item] = by_type.body["data"]
    assert (item["providerEventId"], item["status"], item["waitsFor"]) == (
        ignored["id"],
        "ignored",
        None,
    )
    processed = await hooks.get(BASE, query={"status": "processed", "providerKey": "stripe"})
    assert [item["providerEventId"] for item in processed.body["data"]] == [done["id"]]
    assert (await hooks.get(BASE, query={"providerKey": "other"})).body["data"] == []
    since = isoformat(base - timedelta(seconds=9))
    recent = await hooks.get(BASE, query={"since": since})
    assert [item["id"] for item in recent.body["data"]] == newest_first[:2]
    offset = await hooks.get(BASE, query={"since": "2000-01-01T01:00:00+01:00"})
    assert len(offset.body["data"]) == 3


async def test_list_rejects_bad_filters(hooks: Api) -> None:  # noqa: F811
    for query in (
        {"status": "lost"},
        {"since": "yesterday"},
        {"since": "1790000000"},
        {"cursor": "nope"},
        {"limit": "0"},
    ):
        reply = await hooks.get(BASE, query=query)
        assert reply.status == 400, query
        assert reply.body["code"] == "validation_failed"
        assert reply.body["details"], query


# --- one event ---------------------------------------------------------------------------


async def test_detail_has_the_raw_payload(hooks: Api) -> None:  # noqa: F811
    event = completed_checkout("cs_detail", "cus_detail", "tenant_detail")
    await post_event(hooks, event)
    row = await stored(event)
    reply = await hooks.get(f"{BASE}/{row.id}")
    assert reply.status == 200
    assert set(reply.body) == ITEM_FIELDS | {"payload"}
    assert reply.body["payload"] == orjson.loads(se.encode(event))
    assert reply.body["status"] == "processed"
    assert reply.body["processedAt"].endswith("Z")


async def test_unknown_event_is_404_on_every_route(hooks: Api) -> None:  # noqa: F811
    for ref in (str(uuid.uuid4()), "evt_not_ours"):
        for reply in (await hooks.get(f"{BASE}/{ref}"), await hooks.post(f"{BASE}/{ref}/replay")):
            assert reply.status == 404
            assert reply.body["code"] == "provider_event_not_found"


async def test_routes_need_the_internal_token(hooks: Api) -> None:  # noqa: F811
    assert (await hooks.get(BASE, token=None)).status == 401
    assert (await hooks.get(f"{BASE}/{uuid.uuid4()}", token=None)).status == 401
    assert (await hooks.post(f"{BASE}/{uuid.uuid4()}/replay", token=None)).status == 401


# --- replay ------------------------------------------------------------------------------


async def test_replay_of_a_processed_event_changes_nothing_and_emits_nothing(
    hooks: Api,  # noqa: F811
) -> None:
    checkout = completed_checkout("cs_again", "cus_again", "tenant_again")
    created = subscription_event("sub_again", "cus_again", kind="created", tenant="tenant_again")
    for event in (checkout, created):
        assert (await post_event(hooks, event)).body["status"] == "processed"
    events_before = await NormalizedEvent.all().count()
    record_before = await Subscription.get(provider_subscription_id="sub_again")
    for event in (checkout, created):
        row = await stored(event)
        reply = await hooks.post(f"{BASE}/{row.id}/replay")
        assert reply.status == 200, reply.body
        assert reply.body["replay"] == "unchanged"
        assert reply.body["status"] == "processed"
        assert reply.body["processedAt"] == isoformat(row.processed_at)
    assert await NormalizedEvent.all().count() == events_before
    record_after = await Subscription.get(provider_subscription_id="sub_again")
    assert record_after.updated_at == record_before.updated_at
    # Its payload pruned (`payments prune`): still nothing to do, not a failure.
    row = await stored(created)
    await ProviderEvent.filter(id=row.id).update(payload="")
    reply = await hooks.post(f"{BASE}/{row.id}/replay")
    assert (reply.status, reply.body["replay"]) == (200, "unchanged")


async def test_replay_of_an_ignored_event_changes_nothing(hooks: Api) -> None:  # noqa: F811
    ignored = se.event("customer.created", se.fixture("customer"), created=1_790_000_000)
    await post_event(hooks, ignored)
    reply = await hooks.post(f"{BASE}/{(await stored(ignored)).id}/replay")
    assert (reply.status, reply.body["replay"], reply.body["status"]) == (
        200,
        "unchanged",
        "ignored",
    )


async def test_replay_of_an_unmatched_event_whose_tenant_became_known_applies_it(
    hooks: Api,  # noqa: F811
    registry: Registry,  # noqa: F811
) -> None:
    row = await _unmatched(hooks, "sub_late_known", "cus_late_known")
    invoice = invoice_event("sub_late_known", "cus_late_known")  # waits for the subscription
    await post_event(hooks, invoice)
    assert (await sweeper(registry, ttl_hours=72).sweep()).unmatched == 1
    still = await hooks.post(f"{BASE}/{row.id}/replay")
    assert still.status == 200
    assert (still.body["replay"], still.body["status"]) == ("waiting", "unmatched")
    assert still.body["waitsFor"] == {
        "customer": "cus_late_known",
        "subscription": "sub_late_known",
    }

    await remember_customer_directly("cus_late_known", "tenant_late_known")
    reply = await hooks.post(f"{BASE}/{row.id}/replay")
    assert reply.status == 200
    assert (reply.body["replay"], reply.body["status"], reply.body["waitsFor"]) == (
        "applied",
        "processed",
        None,
    )
    record = await Subscription.get(provider_subscription_id="sub_late_known")
    assert record.consumer_tenant_id == "tenant_late_known"
    # What it made known (the subscription) placed the invoice waiting for it, after the commit.
    assert (await stored(invoice)).status == "processed"
    types = [e.type for e in await NormalizedEvent.filter(consumer_tenant_id="tenant_late_known")]
    assert sorted(types) == ["invoice.paid", "subscription.created", "subscription.updated"]

    again = await hooks.post(f"{BASE}/{row.id}/replay")
    assert again.body["replay"] == "unchanged"
    assert await NormalizedEvent.filter(consumer_tenant_id="tenant_late_known").count() == 3


async def test_replay_of_a_deferred_event_still_unknown_keeps_it_waiting(
    hooks: Api,  # noqa: F811
) -> None:
    event = subscription_event("sub_still", "cus_still")
    await post_event(hooks, event)
    row = await stored(event)
    reply = await hooks.post(f"{BASE}/{row.id}/replay")
    assert (reply.status, reply.body["replay"], reply.body["status"]) == (
        200,
        "waiting",
        "deferred",
    )
    assert reply.body["waitsFor"] == {"customer": "cus_still", "subscription": "sub_still"}
    assert await NormalizedEvent.all().count() == 0


async def test_two_replays_at_once_apply_once(hooks: Api) -> None:  # noqa: F811
    rows = [await _unmatched(hooks, f"sub_twice_{n}", f"cus_twice_{n}") for n in range(5)]
    await ProviderEvent.filter(id__in=[row.id for row in rows]).update(status="unmatched")
    for n in range(5):
        await remember_customer_directly(f"cus_twice_{n}", f"tenant_twice_{n}")
    replies = await asyncio.gather(
        *(hooks.post(f"{BASE}/{row.id}/replay") for row in rows for _ in range(2))
    )
    assert all(reply.status == 200 for reply in replies), [r.body for r in replies]
    outcomes = [reply.body["replay"] for reply in replies]
    for n in range(5):
        assert sorted(outcomes[2 * n : 2 * n + 2]) == ["applied", "unchanged"]
    for n in range(5):
        sent = await NormalizedEvent.filter(consumer_tenant_id=f"tenant_twice_{n}").count()
        assert sent == 1  # subscription.created, once


async def test_a_replay_that_cannot_parse_its_payload_is_422_and_changes_nothing(
    hooks: Api,  # noqa: F811
) -> None:
    event = subscription_event("sub_pruned", "cus_pruned")
    await post_event(hooks, event)
    row = await stored(event)
    await ProviderEvent.filter(id=row.id).update(payload="{not json")
    reply = await hooks.post(f"{BASE}/{row.id}/replay")
    assert reply.status == 422
    assert reply.body["code"] == "provider_event_replay_failed"
    assert (await stored(event)).status == "deferred"
    detail = await hooks.get(f"{BASE}/{row.id}")
    assert detail.body["payload"] is None


@pytest.mark.postgres_only
async def test_a_replay_waits_for_whoever_holds_the_event_and_then_changes_nothing(
    hooks: Api,  # noqa: F811
    database: str,
) -> None:
    """Another transaction holds the row (an automatic replay applying it): the operator's
    replay waits on its lock, and once that one committed the event applied, finds it
    processed and applies nothing a second time."""
    row = await _unmatched(hooks, "sub_held", "cus_held")
    await remember_customer_directly("cus_held", "tenant_held")
    holder = await asyncpg.connect(database)
    watcher = await asyncpg.connect(database)
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM provider_events WHERE id = $1 FOR UPDATE", row.id)
        replaying = asyncio.ensure_future(hooks.post(f"{BASE}/{row.id}/replay"))
        pid = holder.get_server_pid()
        for _ in range(500):
            blocked = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                pid,
            )
            if blocked:
                break
            await asyncio.sleep(0.01)
        assert blocked == 1
        assert not replaying.done()
        await holder.execute(
            "UPDATE provider_events SET status = 'processed', processed_at = now() WHERE id = $1",
            row.id,
        )
        await hold.commit()
        reply = await replaying
    finally:
        await holder.close()
        await watcher.close()
    assert (reply.status, reply.body["replay"], reply.body["status"]) == (
        200,
        "unchanged",
        "processed",
    )
    assert not await Subscription.filter(provider_subscription_id="sub_held").exists()
    assert await NormalizedEvent.all().count() == 0
