"""Benchmark data: realistic signed Stripe events, and a large history for plan status.

Events come from Stripe's own example objects (`tests/support/stripe_events.py`, over
`../shared/stripe/fixtures3.json`), signed the way Stripe signs them. History is written with
PostgreSQL's COPY (asyncpg), because a million rows through the ORM would take longer than the
benchmark itself.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from tests.support import stripe_events as se

MONTH = 30 * 86400
ITEMS = [
    ("starter_month", "Starter", "recurring", 1900, "month", {"funnels": 5}),
    ("pro_month", "Pro", "recurring", 4900, "month", {"funnels": 50}),
    ("lifetime_addon", "Lifetime", "one_time", 9900, None, {"exports": True}),
]


def tenant(n: int) -> str:
    return f"tenant_{n:05d}"


def _lifecycle(n: int, start: int) -> list[dict[str, Any]]:
    """One tenant's realistic sequence: checkout, subscription, renewals, dunning, a purchase."""
    meta = se.tenant_metadata(tenant(n), "starter_month")
    customer, sub, t = f"cus_b{n}", f"sub_b{n}", start

    def sub_event(kind: str, status: str, created: int, period: int) -> dict[str, Any]:
        obj = se.subscription(
            sub,
            status=status,
            customer=customer,
            period_start=start + period * MONTH,
            period_end=start + (period + 1) * MONTH,
            metadata=meta,
        )
        return se.event(f"customer.subscription.{kind}", obj, created=created)

    def invoice(kind: str, period: int, created: int) -> dict[str, Any]:
        obj = se.invoice(
            f"in_b{n}_{period}_{kind}",
            subscription_id=sub,
            customer=customer,
            period_start=start + period * MONTH,
            period_end=start + (period + 1) * MONTH,
            metadata=meta,
        )
        return se.event(f"invoice.{kind}", obj, created=created)

    session = se.checkout_session(
        f"cs_b{n}", mode="subscription", customer=customer, subscription=sub, metadata=meta
    )
    pay_meta = se.tenant_metadata(tenant(n), "lifetime_addon")
    one_time = se.checkout_session(
        f"cs_b{n}_p",
        mode="payment",
        customer=customer,
        payment_intent=f"pi_b{n}",
        amount_total=9900,
        metadata=pay_meta,
    )
    return [
        se.event("checkout.session.completed", session, created=t),
        sub_event("created", "active", t + 1, 0),
        invoice("paid", 0, t + 2),
        invoice("paid", 1, t + MONTH),
        invoice("payment_failed", 2, t + 2 * MONTH),
        sub_event("updated", "past_due", t + 2 * MONTH + 1, 2),
        sub_event("updated", "active", t + 2 * MONTH + 86400, 2),
        se.event("checkout.session.completed", one_time, created=t + 2 * MONTH + 2 * 86400),
        se.event(
            "charge.refunded",
            se.charge(f"ch_b{n}", payment_intent=f"pi_b{n}", amount=9900, amount_refunded=1000),
            created=t + 2 * MONTH + 3 * 86400,
        ),
    ]


def _foreign(n: int, start: int) -> list[dict[str, Any]]:
    """Events about objects no tenant of ours owns: another app on the same Stripe account,
    or the dashboard. No metadata of ours and customers we never saw, so the service can
    never place them: it stores them deferred and must not let them slow anything else."""
    customer, sub = f"cus_x{n}", f"sub_x{n}"
    kind = n % 3
    if kind == 0:
        obj = se.subscription(
            sub, status="active", customer=customer, period_start=start, period_end=start + MONTH
        )
        return [se.event("customer.subscription.updated", obj, created=start)]
    if kind == 1:
        obj = se.invoice(
            f"in_x{n}",
            subscription_id=sub,
            customer=customer,
            period_start=start,
            period_end=start + MONTH,
        )
        return [se.event("invoice.paid", obj, created=start)]
    refunded = se.charge(f"ch_x{n}", payment_intent=f"pi_x{n}", amount=2500, amount_refunded=2500)
    return [se.event("charge.refunded", refunded, created=start)]


def write_webhook_requests(
    path: Path,
    tenants: int,
    secret: str,
    seed: int = 7,
    *,
    foreign: float = 0.0,
    first_tenant: int = 0,
) -> int:
    """Signed events for `tenants` tenants (numbered from `first_tenant`), interleaved, 10%
    duplicates, a few out of order, and a `foreign` share of events the service can never
    place (`_foreign`), signed now (a file is good for the signature tolerance, 300 s)."""
    rng = random.Random(seed + first_tenant)
    streams = [
        _lifecycle(n, 1_780_000_000 + n) for n in range(first_tenant, first_tenant + tenants)
    ]
    ordered: list[dict[str, Any]] = []
    while streams:
        stream = streams[rng.randrange(len(streams))]
        ordered.append(stream.pop(0))
        if not stream:
            streams.remove(stream)
    for _ in range(len(ordered) // 50):  # a few out of order: swap neighbours
        i = rng.randrange(len(ordered) - 1)
        ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    strangers = round(len(ordered) * foreign / (1 - foreign)) if foreign < 1 else 0
    for k in range(strangers):
        n = first_tenant * 10 + k
        for stray in _foreign(n, 1_780_000_000 + n):
            ordered.insert(rng.randrange(len(ordered) + 1), stray)
    for _ in range(len(ordered) // 10):  # 10% duplicates, redelivered a little later
        i = rng.randrange(len(ordered))
        ordered.insert(min(len(ordered), i + rng.randrange(1, 50)), ordered[i])
    stamp = int(time.time())
    with path.open("w") as out:
        for payload in ordered:
            body = orjson.dumps(payload)
            out.write(se.sign(body, secret, stamp) + "\n")
            out.write(body.decode() + "\n")
    return len(ordered)


PROVIDER_EVENT_COLUMNS = [
    "id",
    "provider_key",
    "provider_event_id",
    "type",
    "event_created_at",
    "payload",
    "status",
    "received_at",
    "processed_at",
]
HISTORY_COLUMNS = [*PROVIDER_EVENT_COLUMNS, "waits_customer_id", "waits_subscription_id"]
HISTORY_TYPES = (
    "customer.subscription.updated",
    "invoice.paid",
    "invoice.payment_failed",
    "checkout.session.completed",
    "charge.refunded",
    "customer.updated",
)


async def seed_provider_events(
    connection: asyncpg.Connection, count: int, first: int, foreign: float
) -> int:
    """`count` more stored provider events (ids from `first`), as a long-lived account leaves
    them: mostly processed, some of types we ignore, a `foreign` share deferred for ever
    (waiting for a customer and a subscription that never come)
    (older than the deferral TTL they would be unmatched; here they stay deferred, the worst
    case for any query that looks for deferred events). Payloads are short: what matters to
    the hot statements is the number of rows and index entries, not the TOAST table."""
    now = datetime.now(UTC)
    rng = random.Random(first)
    batch: list[tuple[Any, ...]] = []
    written = 0
    for n in range(first, first + count):
        roll = rng.random()
        status = (
            "deferred" if roll < foreign else "ignored" if roll < foreign + 0.05 else "processed"
        )
        event_type = HISTORY_TYPES[n % len(HISTORY_TYPES)]
        at = now - timedelta(seconds=(first + count - n))
        payload = (
            f'{{"id":"evt_hist{n}","type":"{event_type}","data":{{"object":{{"id":"obj_{n}"}}}}}}'
        )
        batch.append(
            (
                uuid.uuid4(),
                "stripe",
                f"evt_hist{n}",
                event_type,
                at,
                payload,
                status,
                at,
                None if status == "deferred" else at,
                f"cus_hx{n}" if status == "deferred" else None,
                f"sub_hx{n}" if status == "deferred" else None,
            )
        )
        if len(batch) == 50_000:
            await connection.copy_records_to_table(
                "provider_events", records=batch, columns=HISTORY_COLUMNS
            )
            written += len(batch)
            batch = []
    if batch:
        await connection.copy_records_to_table(
            "provider_events", records=batch, columns=HISTORY_COLUMNS
        )
        written += len(batch)
    return written


async def seed_catalog(connection: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    for code, name, kind, amount, interval, features in ITEMS:
        await connection.execute(
            """INSERT INTO pricing_items (id, code, name, kind, unit_amount, currency, billing_interval,
               interval_count, trial_days, active, public, sort_order, features, metadata, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, 'eur', $6, 1, 0, true, true, 0, $7, '{}', $8, $8)
               ON CONFLICT (code) DO NOTHING""",
            uuid.uuid4(),
            code,
            name,
            kind,
            amount,
            interval,
            orjson.dumps(features).decode(),
            now,
        )


async def seed_history(connection: asyncpg.Connection, tenants: int, rows: int) -> dict[str, int]:
    """`rows` rows of history over `tenants` tenants: per tenant 10% subscriptions (one current,
    the rest ended), 20% purchases, 10% stored provider events, 60% normalized events."""
    per = max(10, rows // tenants)
    subs, purchases, provider, events = (
        per // 10,
        per // 5,
        per // 10,
        per - per // 10 * 2 - per // 5,
    )
    now = datetime.now(UTC)
    rng = random.Random(11)
    sub_rows, purchase_rows, provider_rows, event_rows = [], [], [], []
    for n in range(tenants):
        t = tenant(n)
        for k in range(subs):
            current = k == subs - 1
            status = (
                rng.choice(["active", "active", "trialing", "past_due"]) if current else "canceled"
            )
            end = now + timedelta(days=20) if current else now - timedelta(days=30 * (subs - k))
            sub_rows.append(
                (
                    uuid.uuid4(),
                    "stripe",
                    f"sub_h{n}_{k}",
                    f"cus_h{n}",
                    "funnel",
                    t,
                    rng.choice(["starter_month", "pro_month"]),
                    status,
                    end - timedelta(days=30),
                    end,
                    False,
                    None if current else end,
                    None,
                    None if current else end,
                    end,
                    now,
                    now,
                )
            )
        for k in range(purchases):
            status = rng.choice(["paid", "paid", "refunded", "failed"])
            purchase_rows.append(
                (
                    uuid.uuid4(),
                    "stripe",
                    f"pi_h{n}_{k}",
                    f"cus_h{n}",
                    "funnel",
                    t,
                    "lifetime_addon",
                    9900,
                    0,
                    "eur",
                    status,
                    now if status != "failed" else None,
                    now,
                    now,
                )
            )
        for k in range(provider):
            provider_rows.append(
                (
                    uuid.uuid4(),
                    "stripe",
                    f"evt_h{n}_{k}",
                    "invoice.paid",
                    now,
                    "{}",
                    "processed",
                    now,
                    now,
                )
            )
        for k in range(events):
            event_rows.append(
                (
                    uuid.uuid4(),
                    "subscription.updated",
                    now,
                    "stripe",
                    f"evt_h{n}_{k}",
                    "funnel",
                    t,
                    "{}",
                    now,
                )
            )
    await connection.copy_records_to_table(
        "subscriptions",
        records=sub_rows,
        columns=[
            "id",
            "provider_key",
            "provider_subscription_id",
            "provider_customer_id",
            "consumer_key",
            "consumer_tenant_id",
            "pricing_item_code",
            "status",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "canceled_at",
            "trial_end",
            "ended_at",
            "provider_updated_at",
            "created_at",
            "updated_at",
        ],
    )
    await connection.copy_records_to_table(
        "purchases",
        records=purchase_rows,
        columns=[
            "id",
            "provider_key",
            "provider_payment_id",
            "provider_customer_id",
            "consumer_key",
            "consumer_tenant_id",
            "pricing_item_code",
            "amount",
            "amount_refunded",
            "currency",
            "status",
            "paid_at",
            "created_at",
            "updated_at",
        ],
    )
    await connection.copy_records_to_table(
        "provider_events", records=provider_rows, columns=PROVIDER_EVENT_COLUMNS
    )
    await connection.copy_records_to_table(
        "normalized_events",
        records=event_rows,
        columns=[
            "id",
            "type",
            "occurred_at",
            "provider_key",
            "provider_event_id",
            "consumer_key",
            "consumer_tenant_id",
            "data",
            "created_at",
        ],
    )
    await connection.execute("ANALYZE")
    return {
        "subscriptions": len(sub_rows),
        "purchases": len(purchase_rows),
        "provider_events": len(provider_rows),
        "normalized_events": len(event_rows),
    }


async def seed_deliveries(connection: asyncpg.Connection, count: int) -> None:
    """`count` normalized events, each with a pending delivery to the `funnel` consumer."""
    now = datetime.now(UTC)
    events, deliveries = [], []
    for n in range(count):
        event_id = uuid.uuid4()
        data = orjson.dumps(
            {"subscription": {"id": str(n), "status": "active"}, "pricingItemCode": "starter_month"}
        )
        events.append(
            (
                event_id,
                "subscription.updated",
                now,
                "stripe",
                f"evt_d{n}",
                "funnel",
                tenant(n % 10000),
                data.decode(),
                now,
            )
        )
        deliveries.append(
            (uuid.uuid4(), event_id, "funnel", "subscription.updated", "pending", 0, now, now, now)
        )
    await connection.copy_records_to_table(
        "normalized_events",
        records=events,
        columns=[
            "id",
            "type",
            "occurred_at",
            "provider_key",
            "provider_event_id",
            "consumer_key",
            "consumer_tenant_id",
            "data",
            "created_at",
        ],
    )
    await connection.copy_records_to_table(
        "event_deliveries",
        records=deliveries,
        columns=[
            "id",
            "event_id",
            "consumer_key",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ],
    )
