"""The `/metrics` gauges, read from the database when Prometheus scrapes (`refresh_gauges`).

Three statements per scrape, each over an index range that does not grow with the
delivered history's length beyond one index entry per row (docs/operations.md has what
was measured):

- deliveries by status and consumer: `GROUP BY status, consumer_key` over
  `event_deliveries_status_consumer_idx` (PostgreSQL answers it from the index alone);
- the age of the oldest pending delivery: `MIN(created_at)` over the pending range of
  `event_deliveries_due_idx`;
- provider events deferred and unmatched: the two ranges of `provider_events_status_idx`.

Each consumer's circuit (`core.delivery.circuit`) is this process's own, read from its
dispatcher without a query: 0 closed, 1 half-open (a probe is due or out), 2 open.
It composes two subdomains' reads, so it sits at `core/`'s top like `core.worker`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import Gauge
from tortoise import connections

from core.delivery import queries as delivery_queries
from core.delivery.circuit import CircuitBreaker
from core.delivery.dispatcher import Dispatcher
from core.ingest import queries as ingest_queries
from core.models.delivery import STATUSES
from core.store.dialect import for_dialect
from core.timeutil import utcnow

DELIVERIES = Gauge(
    "payments_deliveries", "Event deliveries by status and consumer", ["status", "consumer"]
)
OLDEST_PENDING_SECONDS = Gauge(
    "payments_delivery_oldest_pending_seconds",
    "Age in seconds of the oldest pending delivery (0: none pending)",
)
WAITING_EVENTS = Gauge(
    "payments_provider_events_waiting",
    "Provider events whose tenant is not known: deferred (still tried) and unmatched (kept)",
    ["status"],
)
CIRCUIT_STATE = Gauge(
    "payments_consumer_circuit_state",
    "Each consumer's delivery circuit in this process: 0 closed, 1 half-open, 2 open",
    ["consumer"],
)
CLOSED, HALF_OPEN, OPEN = 0, 1, 2
WAITING_STATUSES = ("deferred", "unmatched")


def _as_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    # SQLite answers MIN() as text; both store UTC
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def circuit_state(breaker: CircuitBreaker, key: str, now: float) -> int:
    if breaker.closed(key):
        return CLOSED
    return OPEN if breaker.is_open(key, now) else HALF_OPEN


async def refresh_gauges(
    consumers: Iterable[str] = (), dispatcher: Dispatcher | None = None
) -> None:
    """Set every gauge from the database, and the circuits from this process's dispatcher
    (none when it delivers nothing: another process's circuits are its own)."""
    consumers = list(consumers)
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        for_dialect(conn, delivery_queries.COUNT_BY_STATUS_AND_CONSUMER)
    )
    counts = {(str(row["status"]), str(row["consumer_key"])): int(row["n"]) for row in rows}
    _, oldest_rows = await conn.execute_query(for_dialect(conn, delivery_queries.OLDEST_PENDING))
    _, waiting_rows = await conn.execute_query(
        for_dialect(conn, ingest_queries.COUNT_WAITING_EVENTS)
    )

    known = sorted({*consumers, *(consumer for _, consumer in counts)})
    DELIVERIES.clear()
    for consumer in known:
        for status in STATUSES:
            DELIVERIES.labels(status, consumer).set(counts.get((status, consumer), 0))
    oldest = _as_datetime(oldest_rows[0]["oldest"]) if oldest_rows else None
    OLDEST_PENDING_SECONDS.set(
        max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0
    )
    waiting = {str(row["status"]): int(row["n"]) for row in waiting_rows}
    for status in WAITING_STATUSES:
        WAITING_EVENTS.labels(status).set(waiting.get(status, 0))
    CIRCUIT_STATE.clear()
    if dispatcher is not None:
        now = dispatcher.clock()
        for consumer in consumers:
            CIRCUIT_STATE.labels(consumer).set(circuit_state(dispatcher.breaker, consumer, now))
