"""Retention: `payments prune --older-than DAYS [--dry-run]`.

What is older than the cut goes, in batches of `BATCH` rows, each batch its own short unit
of work, so a long history never holds locks for long and other writers interleave:

- delivered deliveries (by `created_at`) and their attempts; failed and pending ones stay,
  and so do the normalized events (the contract's record of what was announced);
- idempotency keys (by `created_at`): after that long a repeat is not a retry;
- the payloads of processed provider events (by `received_at`): the row, its ids, type and
  status stay (a repeat of the event is still recognised and changes nothing); the raw body
  becomes `PRUNED_PAYLOAD`. Deferred, unmatched and ignored events keep theirs.

A dry run counts the same rows (one statement each) and changes nothing. It composes
several subdomains' statements, so it sits at `core/`'s top like `core.worker`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from core.delivery import queries as delivery_queries
from core.ingest import queries as ingest_queries
from core.models import ProviderEvent
from core.store import idempotency
from core.store.dialect import for_dialect
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

BATCH = 500
"""Rows per transaction: a few milliseconds of locks each."""


@dataclass
class PruneReport:
    deliveries: int = 0
    attempts: int = 0
    idempotency_keys: int = 0
    payloads: int = 0
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        cleared = "would clear" if self.dry_run else "cleared"
        return [
            f"{verb} {self.deliveries} delivered deliveries and {self.attempts} attempts",
            f"{verb} {self.idempotency_keys} idempotency keys",
            f"{cleared} the payloads of {self.payloads} processed provider events",
        ]


def _db_time(value: datetime) -> Any:
    return ProviderEvent._meta.fields_map["received_at"].to_db_value(value, ProviderEvent)


async def _count(statement: str, cut: Any) -> int:
    conn = connections.get("default")
    _, rows = await conn.execute_query(for_dialect(conn, statement), [cut])
    return int(rows[0]["n"]) if rows else 0


async def _batches(
    select: str, change: Callable[[BaseDBAsyncClient, list[Any]], Any], cut: Any, batch: int
) -> int:
    """Select up to `batch` ids older than the cut and change them, one unit of work per
    batch, until a batch comes back short; the number changed."""
    total = 0
    while True:
        async with unit_of_work() as conn:
            _, rows = await conn.execute_query(for_dialect(conn, select), [cut, batch])
            ids = [row["id"] for row in rows]
            if ids:
                total += await change(conn, ids)
        if len(ids) < batch:
            return total


async def prune(
    older_than_days: float, *, dry_run: bool = False, batch: int = BATCH
) -> PruneReport:
    """Prune what is older than `older_than_days` days (see the module docstring)."""
    cut = _db_time(utcnow() - timedelta(days=older_than_days))
    report = PruneReport(dry_run=dry_run)
    if dry_run:
        report.deliveries = await _count(delivery_queries.COUNT_PRUNABLE_DELIVERIES, cut)
        report.attempts = await _count(delivery_queries.COUNT_PRUNABLE_ATTEMPTS, cut)
        report.idempotency_keys = await _count(idempotency.COUNT_PRUNABLE_KEYS, cut)
        report.payloads = await _count(ingest_queries.COUNT_PRUNABLE_PAYLOADS, cut)
        return report

    async def deliveries(conn: BaseDBAsyncClient, ids: list[Any]) -> int:
        attempts, _ = await conn.execute_query(
            for_dialect(conn, delivery_queries.delete_attempts_of(len(ids))), ids
        )
        report.attempts += attempts
        deleted, _ = await conn.execute_query(
            for_dialect(conn, delivery_queries.delete_deliveries(len(ids))), ids
        )
        return int(deleted)

    async def keys(conn: BaseDBAsyncClient, ids: list[Any]) -> int:
        deleted, _ = await conn.execute_query(
            for_dialect(conn, idempotency.delete_keys(len(ids))), ids
        )
        return int(deleted)

    async def payloads(conn: BaseDBAsyncClient, ids: list[Any]) -> int:
        cleared, _ = await conn.execute_query(
            for_dialect(conn, ingest_queries.clear_payloads(len(ids))), ids
        )
        return int(cleared)

    report.deliveries = await _batches(delivery_queries.PRUNABLE_DELIVERIES, deliveries, cut, batch)
    report.idempotency_keys = await _batches(idempotency.PRUNABLE_KEYS, keys, cut, batch)
    report.payloads = await _batches(ingest_queries.PRUNABLE_PAYLOADS, payloads, cut, batch)
    return report
