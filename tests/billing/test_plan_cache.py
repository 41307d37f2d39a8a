"""The plan-status cache: exact answers through invalidation, across real processes."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from core.billing.plan_cache import APPLICATION_NAME, ENTRY_OVERHEAD, PlanStatusCache
from tests.support import stripe_events as se
from tests.support.databases import recreate_postgres_database, sibling_url
from tests.support.processes import PAYMENTS, free_port, run_payments
from tests.support.webhooks import SECRET


def test_answers_are_kept_only_while_enabled() -> None:
    cache = PlanStatusCache()
    cache.put("t1", None, b"a1", read_at_generation=cache.generation, valid_for=None)
    assert cache.get("t1", None) is None  # off: nothing kept
    cache.set_enabled(True)
    cache.put("t1", None, b"a1", read_at_generation=cache.generation, valid_for=None)
    cache.put("t1", "funnel", b"a2", read_at_generation=cache.generation, valid_for=None)
    assert cache.get("t1", None) == b"a1"
    assert cache.get("t1", "funnel") == b"a2"
    cache.set_enabled(False)
    assert cache.get("t1", None) is None
    cache.set_enabled(True)
    assert cache.get("t1", None) is None  # turning off emptied it


def test_invalidation_drops_a_tenant_or_everyone() -> None:
    cache = PlanStatusCache()
    cache.set_enabled(True)
    for tenant in ("t1", "t2"):
        cache.put(
            tenant, "funnel", tenant.encode(), read_at_generation=cache.generation, valid_for=None
        )
    cache.invalidate(["t1"])
    assert cache.get("t1", "funnel") is None
    assert cache.get("t2", "funnel") == b"t2"
    cache.invalidate(["*"])
    assert cache.get("t2", "funnel") is None


def test_a_read_that_raced_an_invalidation_is_not_kept() -> None:
    cache = PlanStatusCache()
    cache.set_enabled(True)
    started = cache.generation
    cache.invalidate(["t1"])  # a write committed while the read was in flight
    cache.put("t1", None, b"old", read_at_generation=started, valid_for=None)
    assert cache.get("t1", None) is None


def test_answers_expire_and_the_least_recent_go_first() -> None:
    cache = PlanStatusCache(capacity_bytes=2 * (ENTRY_OVERHEAD + 1), ttl=60)
    cache.set_enabled(True)
    cache.put("gone", None, b"{}", read_at_generation=cache.generation, valid_for=0)
    assert cache.get("gone", None) is None
    cache.put("short", None, b"{}", read_at_generation=cache.generation, valid_for=0.01)
    time.sleep(0.02)
    assert cache.get("short", None) is None
    for tenant in ("a", "b", "c"):
        cache.put(
            tenant, None, tenant.encode(), read_at_generation=cache.generation, valid_for=None
        )
    assert len(cache) == 2
    assert cache.get("a", None) is None
    assert cache.get("c", None) == b"c"


def test_the_cache_is_bounded_by_the_bytes_it_holds() -> None:
    cache = PlanStatusCache(capacity_bytes=10_000, ttl=60)
    cache.set_enabled(True)
    big, small = b"x" * 4_000, b"{}"
    for n in range(10):
        cache.put(f"big{n}", None, big, read_at_generation=cache.generation, valid_for=None)
    assert len(cache) == 2 and cache.size == 2 * (4_000 + ENTRY_OVERHEAD)
    for n in range(20):
        cache.put(f"small{n}", "funnel", small, read_at_generation=cache.generation, valid_for=None)
    assert len(cache) == 21  # twenty small answers take the room of one large one
    cache.put("small0", "funnel", big, read_at_generation=cache.generation, valid_for=None)
    cache.invalidate(["big9", "small1"])
    assert cache.size == sum(  # replacing, invalidating and evicting all keep the count right
        len(answer) + ENTRY_OVERHEAD
        for answers in cache._tenants.values()
        for _, answer in answers.values()
    )
    assert cache.size <= 10_000
    cache.invalidate(["*"])
    assert (len(cache), cache.size) == (0, 0)


# --- real processes on PostgreSQL ------------------------------------------------------------------

SHARED = sibling_url("plan_cache")
T0 = 1_790_000_000


@pytest.fixture
async def two_servers(tmp_path: Path, clean_env: dict[str, str]) -> AsyncIterator[list[str]]:
    await recreate_postgres_database(SHARED)
    plugins = tmp_path / "plugins.toml"
    plugins.write_text(
        '[providers.stripe]\nplugin = "stripe"\nsecret_key = "sk_test_x"\nwebhook_secrets = "${STRIPE_WEBHOOK_SECRET}"\n'
    )
    base = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": SHARED,
        "PAYMENTS_INTERNAL_TOKEN": "tok",
        "PAYMENTS_PLUGINS_FILE": str(plugins),
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "PAYMENTS_EMBEDDED_DISPATCHER": "false",
    }
    assert run_payments("migrate", env=base).returncode == 0
    processes, urls = [], []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"serve{n}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [PAYMENTS, "serve"],
                env={**base, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        async with aiohttp.ClientSession() as http:
            for url in urls:
                health = f"{url}/health"
                await eventually(lambda: answers(http, health))  # noqa: B023 - awaited at once
            await eventually(lambda: listeners_connected(2))
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


async def answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def listener_pids() -> set[int]:
    connection = await asyncpg.connect(SHARED.replace("postgres://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
        return {row["pid"] for row in rows}
    finally:
        await connection.close()


async def listeners_connected(count: int, replacing: Collection[int] = ()) -> bool:
    pids = await listener_pids()
    return len(pids) == count and not pids & set(replacing)


async def eventually(check: Callable[[], Any], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def status_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(
        f"{url}/internal/payments/tenants/tenant_cache/plan-status",
        headers={"x-platform-internal-token": "tok"},
    ) as response:
        assert response.status == 200
        body = await response.json()
        return str(body["status"])


async def post(http: aiohttp.ClientSession, url: str, status: str, created: int) -> None:
    payload = se.event(
        "customer.subscription.updated",
        se.subscription(
            "sub_cache",
            status=status,
            customer="cus_c",
            period_start=T0,
            period_end=T0 + 86400 * 30,
            metadata=se.tenant_metadata("tenant_cache", "starter_month"),
        ),
        created=created,
    )
    body = se.encode(payload)
    async with http.post(
        f"{url}/webhooks/stripe", data=body, headers={"Stripe-Signature": se.sign(body, SECRET)}
    ) as r:
        assert r.status == 200, await r.text()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_change_written_by_one_process_is_seen_by_the_other_at_once(
    database_url: str, two_servers: list[str]
) -> None:
    writer, reader = two_servers
    async with aiohttp.ClientSession() as http:
        assert await status_of(http, reader) == "none"
        assert await status_of(http, reader) == "none"  # now cached by the reader
        await post(http, writer, "active", T0)
        # The writer forgot before answering; the reader forgets when the NOTIFY arrives.
        assert await status_of(http, writer) == "active"
        await eventually(lambda: is_status(http, reader, "active"), within=5)
        await post(http, reader, "past_due", T0 + 10)
        assert await status_of(http, reader) == "past_due"
        await eventually(lambda: is_status(http, writer, "past_due"), within=5)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_losing_the_listen_connection_empties_the_cache(
    database_url: str, two_servers: list[str]
) -> None:
    writer, reader = two_servers
    async with aiohttp.ClientSession() as http:
        await post(http, writer, "active", T0)
        await eventually(lambda: is_status(http, reader, "active"), within=5)
        assert await status_of(http, reader) == "active"  # cached
        before = await listener_pids()
        connection = await asyncpg.connect(SHARED.replace("postgres://", "postgresql://"))
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                APPLICATION_NAME,
            )
            # Both noticed and reconnected (with new backends).
            await eventually(lambda: listeners_connected(2, replacing=before))
            # A change nobody announced (as if made while they were not listening):
            await connection.execute("UPDATE subscriptions SET status = 'canceled'")
        finally:
            await connection.close()
        assert await status_of(http, reader) == "canceled"
        assert await status_of(http, writer) == "canceled"


async def is_status(http: aiohttp.ClientSession, url: str, wanted: str) -> bool:
    return await status_of(http, url) == wanted
