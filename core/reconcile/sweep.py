"""The sweep: nothing stays wrong by itself.

Every `PAYMENTS_RECONCILE_INTERVAL` seconds (default 3600) each worker (and `serve`'s
embedded one) looks for what must have moved by now without us hearing of it:

- an `active`, `trialing` or `past_due` subscription whose period ended more than an hour
  ago (its renewal or cancellation webhook was lost);
- a checkout session still `open` past its `expiresAt` (its completion or expiry was lost).

It does not read them itself: it asks for each to be re-read as a `provider_reads` task
(`queries.REARM_READ`), and the provider-read runner (`core.ingest.provider_reads`) claims
those under a lease (`SKIP LOCKED`), so several workers never read one object at once; the
read is applied like reconcile's (`core.reconcile.reads.check`). A read that fails is retried
on the provider-read schedule, and asked for again by the next sweep after its last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections

from core.errors import ApiError
from core.ingest import provider_reads
from core.ingest.provider_read_tasks import ClaimedRead
from core.models import CheckoutSession, ProviderRead, Subscription
from core.plugins import Registry
from core.reconcile import queries
from core.reconcile.objects import Kind, Known
from core.reconcile.reads import check
from core.store.dialect import for_dialect
from core.timeutil import utcnow

log = logging.getLogger("platform_payments.reconcile")

LIVE = ("active", "trialing", "past_due")
LAPSE_GRACE = timedelta(hours=1)
"""How long after a period's end the renewal's webhook may still be on its way."""
PER_PASS = 1000
"""Most objects of each kind one pass asks for (the rest: the next pass)."""
KINDS: dict[str, Kind] = {
    "reconcile.subscription": "subscription",
    "reconcile.checkout_session": "checkout_session",
}


def _db(name: str, value: Any) -> Any:
    return ProviderRead._meta.fields_map[name].to_db_value(value, ProviderRead)


async def _rearm(kind: str, rows: list[dict[str, Any]], id_field: str, now: datetime) -> int:
    conn = connections.get("default")
    statement = for_dialect(conn, queries.REARM_READ)
    for row in rows:
        values = [
            _db("id", uuid.uuid4()),
            row["provider_key"],
            kind,
            row[id_field],
            _db("due_at", now),
        ]
        await conn.execute_query(statement, values)
    return len(rows)


async def sweep_once(now: datetime | None = None) -> int:
    """One pass: ask for every lapsed subscription and overdue checkout to be re-read; how
    many were asked for."""
    moment = now or utcnow()
    lapsed = (
        await Subscription.filter(status__in=LIVE, current_period_end__lt=moment - LAPSE_GRACE)
        .order_by("current_period_end")
        .limit(PER_PASS)
        .values("provider_key", "provider_subscription_id")
    )
    overdue = (
        await CheckoutSession.filter(status="open", expires_at__lt=moment)
        .order_by("expires_at")
        .limit(PER_PASS)
        .values("provider_key", "provider_checkout_session_id")
    )
    asked = await _rearm("reconcile.subscription", lapsed, "provider_subscription_id", moment)
    asked += await _rearm(
        "reconcile.checkout_session", overdue, "provider_checkout_session_id", moment
    )
    if asked:
        log.info(
            "sweep: %d lapsed subscriptions, %d overdue checkouts to re-read",
            len(lapsed),
            len(overdue),
        )
    return asked


async def _read(registry: Registry, task: ClaimedRead) -> None:
    """The provider-read runner's handler of a sweep's task: re-read and apply it."""
    known = Known(KINDS[task.kind], task.provider_key, task.provider_object_id, "")
    result = await check(registry, known)
    if result.outcome == "error":
        raise ApiError(result.message or "the re-read failed", code="reconcile_read_failed")
    if result.outcome == "missing":
        log.warning("sweep: %s is missing at its provider: %s", known.label, result.message)
    elif result.outcome == "changed":
        log.info("sweep: %s repaired from its provider", known.label)


for _kind in KINDS:
    provider_reads.register_kind(_kind, _read)


class ReconcileSweep:
    """`start()` on a running loop, `stop()` once; `sweep_once` is what tests call."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("reconcile sweep already started")
        self._task = asyncio.create_task(self._loop(), name="payments-reconcile-sweep")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await sweep_once()
            except Exception:
                log.exception("the reconcile sweep failed; it runs again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
