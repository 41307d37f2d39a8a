"""EXPLAIN every hot statement on `provider_events` over 1,000,000 stored events.

`python -m bench.explain_provider_events [--url URL] [--rows N]` re-creates the database at
URL (PostgreSQL only; default `postgres://postgres@127.0.0.1:5432/payments_explain`),
migrates it, analyses the empty tables (a new deployment's statistics) and turns autovacuum
off, fills `provider_events` with `INSERT ... SELECT generate_series` (94% processed, 5%
ignored, 1% deferred waiting for customers and subscriptions nobody knows, the oldest of
them past the TTL; a fiftieth as many known customers, subscriptions, purchases and checkout
sessions), and prints the plan of each statement twice: with those fresh (stale)
statistics, then after ANALYZE. Each statement is planned both ways PostgreSQL may run a
prepared statement: with its values (custom plan) and without (generic plan, what a pooled
connection's prepared statement switches to).

It exits 1 if any plan reads `provider_events` with a Seq Scan, uses a BitmapAnd, or misses
the index the statement is meant to use: history must never cost a webhook anything. The
statements are the ones the code runs (taken from `core.ingest.queries`, `core.store.records` and
`core.ingest.deferred`, not copied), with realistic values. Plans are `EXPLAIN (ANALYZE, BUFFERS)`
inside a transaction that is rolled back, so the UPDATEs and the INSERT change nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.ingest import deferred, queries
from core.ingest.intake import EVENT_KEY
from core.models import ProviderEvent
from core.store import db, records

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/payments_explain"
FORBIDDEN = ("Seq Scan on provider_events", "BitmapAnd")
TTL = timedelta(hours=72)

_FILL = """
INSERT INTO provider_events (id, provider_key, provider_event_id, type, api_version,
    event_created_at, payload, status, received_at, processed_at,
    waits_customer_id, waits_subscription_id)
SELECT md5(i::text)::uuid, 'stripe', 'evt_' || i,
    CASE WHEN i % 20 = 1 THEN 'customer.created' ELSE 'customer.subscription.updated' END,
    '2025-03-31.basil', $1::timestamptz - (($2 - i) * interval '1 second'), '{}',
    CASE WHEN i % 100 = 0 THEN 'deferred' WHEN i % 20 = 1 THEN 'ignored' ELSE 'processed' END,
    $1::timestamptz - (($2 - i) * interval '1 second'),
    CASE WHEN i % 100 = 0 THEN NULL ELSE $1::timestamptz END,
    CASE WHEN i % 100 = 0 THEN 'cus_foreign_' || i END,
    CASE WHEN i % 200 = 0 THEN 'sub_foreign_' || i END
FROM generate_series(1, $2) AS i
"""
"""One event a second up to now: with 1,000,000 rows the oldest deferred ones are past 72 h."""

_KNOWN_FILL = (
    "INSERT INTO provider_customers (id, provider_key, consumer_key, consumer_tenant_id,"
    " provider_customer_id, created_at, updated_at)"
    " SELECT gen_random_uuid(), 'stripe', 'funnel', 'tenant_' || i, 'cus_' || i, now(), now()"
    " FROM generate_series(1, $1) AS i",
    "INSERT INTO subscriptions (id, provider_key, provider_subscription_id, consumer_key,"
    " consumer_tenant_id, pricing_item_code, status, cancel_at_period_end, created_at,"
    " updated_at) SELECT gen_random_uuid(), 'stripe', 'sub_' || i, 'funnel', 'tenant_' || i,"
    " 'starter_month', 'active', false, now(), now() FROM generate_series(1, $1) AS i",
    "INSERT INTO purchases (id, provider_key, provider_payment_id, consumer_key,"
    " consumer_tenant_id, pricing_item_code, amount, amount_refunded, currency, status,"
    " created_at, updated_at) SELECT gen_random_uuid(), 'stripe', 'pi_' || i, 'funnel',"
    " 'tenant_' || i, 'lifetime_addon', 4900, 0, 'eur', 'paid', now(), now()"
    " FROM generate_series(1, $1) AS i",
    "INSERT INTO checkout_sessions (id, provider_key, provider_checkout_session_id, status,"
    " mode, payment_status, pricing_item_code, consumer_key, consumer_tenant_id, success_url,"
    " cancel_url, created_at, updated_at) SELECT gen_random_uuid(), 'stripe', 'cs_' || i,"
    " 'complete', 'subscription', 'paid', 'starter_month', 'funnel', 'tenant_' || i, 'https://s',"
    " 'https://c', now(), now() FROM generate_series(1, $1) AS i",
)
"""The records an id is known by, one per tenant (a fiftieth of the events' count)."""


@dataclass(frozen=True)
class Statement:
    what: str
    sql: str
    values: list[Any]
    uses: tuple[str, ...]
    """Index names the plan must mention (each)."""


def _maintenance_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


async def _recreate(url: str) -> None:
    admin_url, name = _maintenance_url(url)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await db.migrate(url)


def _insert_values(now: datetime) -> list[Any]:
    row = ProviderEvent(
        provider_key="stripe",
        provider_event_id="evt_new_one",
        type="customer.subscription.updated",
        api_version="2025-03-31.basil",
        event_created_at=now,
        payload="{}",
        status="processed",
        processed_at=now,
        received_at=now,
    )
    fields = ProviderEvent._meta.fields_map
    names = tuple(ProviderEvent._meta.fields_db_projection)
    return [fields[name].to_db_value(getattr(row, name), row) for name in names]


def _statements(rows: int, now: datetime, unique: Mapping[str, str]) -> list[Statement]:
    """Each hot statement on provider_events, with values a busy day would give it."""
    names = tuple(ProviderEvent._meta.fields_db_projection)
    deferred_one = f"cus_foreign_{rows - rows % 100}"
    some_id = str(uuid.UUID(bytes=bytes(16)))
    by_customer = ("provider_events_waits_customer_idx",)
    by_subscription = ("provider_events_waits_subscription_idx",)
    oldest = (now - timedelta(seconds=rows), some_id)
    return [
        Statement(
            "the event insert (ON CONFLICT DO NOTHING on the unique key)",
            records._insert(ProviderEvent, names, EVENT_KEY, True),
            _insert_values(now),
            (unique["provider_events"],),
        ),
        Statement(
            "the duplicate check after a write conflict",
            queries.EVENT_STORED,
            ["stripe", f"evt_{rows // 2}"],
            (unique["provider_events"],),
        ),
        Statement(
            "after a commit that made a subscription known: who waits for it",
            queries.waiting([("subscription", 1)], deferred.REPLAY_LIMIT),
            ["stripe", "sub_ours"],
            by_subscription,
        ),
        Statement(
            "after a commit that made a customer and a subscription known",
            queries.waiting([("customer", 2), ("subscription", 1)], deferred.REPLAY_LIMIT),
            ["stripe", deferred_one, "cus_ours", "stripe", "sub_ours"],
            by_customer + by_subscription,
        ),
        Statement(
            "after storing a deferred event: is what it waits for known by now",
            queries.any_known(["customer", "subscription"]),
            ["stripe", "cus_42", "stripe", "sub_42"],
            (unique["provider_customers"], unique["subscriptions"]),
        ),
        Statement(
            "claiming one deferred event (FOR UPDATE SKIP LOCKED)",
            queries.CLAIM_DEFERRED.postgres,
            [some_id],
            ("provider_events_pkey",),
        ),
        Statement(
            "marking it applied",
            queries.MARK_APPLIED,
            [now, some_id],
            ("provider_events_pkey",),
        ),
        Statement(
            "updating what it waits for",
            queries.SET_WAITS,
            ["cus_x", None, None, None, some_id],
            ("provider_events_pkey",),
        ),
        Statement(
            "the TTL: deferred past 72 h become unmatched (bounded)",
            queries.EXPIRE.postgres,
            [now, now - TTL, deferred.EXPIRE_BATCH],
            ("provider_events_deferred_idx",),
        ),
        Statement(
            "the safety net's first batch",
            queries.SCAN_FIRST,
            [deferred.SCAN_BATCH],
            ("provider_events_deferred_idx",),
        ),
        Statement(
            "the safety net's next batch",
            queries.SCAN_AFTER,
            [*oldest, deferred.SCAN_BATCH],
            ("provider_events_deferred_idx",),
        ),
    ]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


async def _explain(connection: asyncpg.Connection, statement: Statement, mode: str) -> str:
    """The plan as run (and rolled back), with `plan_cache_mode` forcing custom or generic."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await connection.execute(f"PREPARE hot AS {statement.sql}")
        arguments = ", ".join(_literal(value) for value in statement.values)
        plan = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE hot({arguments})")
    finally:
        await transaction.rollback()
        await connection.execute("DEALLOCATE hot")
    return "\n".join(str(row[0]) for row in plan)


def _verdict(statement: Statement, plan: str) -> list[str]:
    bad = [f"uses {word}" for word in FORBIDDEN if word in plan]
    bad += [f"does not use {name}" for name in statement.uses if name not in plan]
    return bad


async def _unique_indexes(connection: asyncpg.Connection) -> dict[str, str]:
    """Each table's unique index on (provider_key, <its provider id>), by table."""
    rows = await connection.fetch(
        "SELECT tablename, indexname FROM pg_indexes WHERE indexdef LIKE"
        " 'CREATE UNIQUE INDEX % (provider_key, provider\\_%\\_id)'"
    )
    return {row["tablename"]: row["indexname"] for row in rows}


async def run(url: str, rows: int) -> bool:
    """Fill, explain, print; whether every plan is as intended."""
    await _recreate(url)
    connection = await asyncpg.connect(url)
    good = True
    try:
        now = datetime.now(UTC)
        await connection.execute("ANALYZE")  # what a new deployment's statistics say: empty
        for table in ("provider_events", *(table for table, _ in queries.KNOWN_IN.values())):
            await connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        started = time.monotonic()
        await connection.execute(_FILL, now, rows)
        for fill in _KNOWN_FILL:
            await connection.execute(fill, max(rows // 50, 1))
        filled = time.monotonic() - started
        counts = await connection.fetch(
            "SELECT status, count(*) AS n FROM provider_events GROUP BY status ORDER BY status"
        )
        summary = ", ".join(f"{row['status']} {row['n']:,}" for row in counts)
        print(
            f"provider_events: {rows:,} rows ({summary}); {max(rows // 50, 1):,} each of"
            f" customers, subscriptions, purchases, checkout sessions; filled in {filled:.1f}s\n"
        )
        unique = await _unique_indexes(connection)
        for phase in ("with the statistics of the empty table", "after ANALYZE"):
            if phase.startswith("after"):
                await connection.execute("ANALYZE")
            print(f"## {phase}\n")
            for statement in _statements(rows, now, unique):
                for mode in ("force_custom_plan", "force_generic_plan"):
                    plan = await _explain(connection, statement, mode)
                    bad = _verdict(statement, plan)
                    good = good and not bad
                    verdict = "BAD: " + "; ".join(bad) if bad else "ok"
                    kind = mode.split("_")[1]
                    print(f"### {statement.what} ({kind} plan): {verdict}\n\n{plan}\n")
    finally:
        await connection.close()
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database to re-create")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args.url, args.rows)) else 1)


if __name__ == "__main__":
    main()
