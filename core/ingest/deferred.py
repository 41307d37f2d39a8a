"""Deferred provider events: kept until what they wait for is known, at no cost until then.

An event whose tenant is unknown (`TenantUnknown`) is stored `deferred` with the provider
ids whose becoming known would place it (`waits_*` columns, one partial index each). A
transaction that makes ids known (`ApplyContext.known`) replays, after its commit, only the
events waiting for those ids: one indexed query, then each event in its own transaction,
claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so no request ever waits for another's
replay. An event that makes nothing known runs no deferred query at all.

Nothing is stranded by a race or a crash:
- an event deferred while another transaction makes its id known checks, after its own
  commit, whether what it waits for is known now, and replays itself if so (one of the two
  transactions always sees the other's commit); a replay that fails because of a race does
  the same;
- `DeferredSweeper` (run beside the delivery dispatcher, in the worker and in `serve`)
  walks the deferred events, a bounded batch per pass, and replays those whose ids are known
  (a process died between a commit and its replay); the same pass turns events older than
  `PAYMENTS_DEFERRED_TTL_HOURS` into `unmatched`, which nothing replays on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError

from core.errors import ApiError
from core.facts import (
    CheckoutSessionFact,
    Fact,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
    WebhookEvent,
)
from core.ingest import queries
from core.ingest.appliers.context import IdKind, TenantUnknown
from core.ingest.apply import apply_facts, parse_webhook_body
from core.ingest.queries import COLUMN, KINDS
from core.models import ProviderEvent
from core.plugins import Registry
from core.store import sql
from core.store.dialect import for_dialect
from core.store.unit_of_work import after_commit, unit_of_work
from core.timeutil import utcnow

log = logging.getLogger(__name__)

REPLAY_LIMIT = 200
"""Most deferred events one commit replays (the sweeper picks up any beyond)."""
ATTEMPTS = 3
"""Tries at one event that a race (a write conflict, an id known meanwhile) made fail."""
SWEEP_INTERVAL = 30.0
SCAN_BATCH = 500
"""Deferred events the sweeper looks at per pass (each checked against the unique keys)."""
EXPIRE_BATCH = 1000
EXPIRE_BATCHES = 10
"""The TTL turns at most EXPIRE_BATCH x EXPIRE_BATCHES events `unmatched` per pass."""
ERROR_BACKOFF_SECONDS = 5.0

Waits = Mapping[IdKind, str]
"""What one deferred event waits for: at most one id of each kind."""
Known = Mapping[IdKind, Iterable[str]]
"""Ids that became known: any number of each kind."""


# --- what an event waits for -------------------------------------------------------------


def ids_named(facts: Sequence[Fact]) -> dict[IdKind, set[str]]:
    """Every provider id the facts name, by kind: the fallback when nothing more precise is
    known (a `TenantUnknown` raised without ids, a context marked `identified` only)."""
    found: dict[IdKind, set[str]] = {}

    def add(kind: IdKind, value: str | None) -> None:
        if value:
            found.setdefault(kind, set()).add(value)

    for fact in facts:
        if isinstance(fact, SubscriptionFact):
            add("subscription", fact.provider_subscription_id)
            add("customer", fact.provider_customer_id)
        elif isinstance(fact, CheckoutSessionFact):
            add("checkout_session", fact.provider_checkout_session_id)
            add("customer", fact.provider_customer_id)
            add("subscription", fact.provider_subscription_id)
            add("payment", fact.provider_payment_id)
        elif isinstance(fact, PaymentFact):
            add("payment", fact.provider_payment_id)
            add("checkout_session", fact.provider_checkout_session_id)
            add("customer", fact.provider_customer_id)
        elif isinstance(fact, InvoiceFact):
            add("subscription", fact.provider_subscription_id)
        elif isinstance(fact, RefundFact):
            add("payment", fact.provider_payment_id)
    return found


def waits_of(unknown: TenantUnknown, event: WebhookEvent) -> dict[IdKind, str]:
    """What the deferred event waits for: what the applier said, else any id its facts name
    (one per kind)."""
    if unknown.waits:
        return dict(unknown.waits)
    named = ids_named(event.facts)
    return {kind: sorted(values)[0] for kind, values in named.items()}


def known_after(identified: bool, known: Known, facts: Sequence[Fact]) -> dict[IdKind, set[str]]:
    """The ids a transaction made known (falls back to the facts' ids if an applier only
    set `identified`)."""
    if known:
        return {kind: set(values) for kind, values in known.items() if values}
    return ids_named(facts) if identified else {}


def waits_columns(waits: Waits) -> dict[str, str | None]:
    """The `ProviderEvent` field values recording `waits`."""
    return {COLUMN[kind]: waits.get(kind) for kind in KINDS}


# --- looking up deferred events ------------------------------------------------------


async def waiting_for(provider_key: str, known: Known) -> list[str]:
    """Ids of the deferred events (rows) waiting for any of the `known` provider ids."""
    kinds: list[tuple[IdKind, int]] = []
    values: list[Any] = []
    for kind in KINDS:
        ids = sorted(set(known.get(kind, ())))[:REPLAY_LIMIT]
        if ids:
            kinds.append((kind, len(ids)))
            values += [provider_key, *ids]
    if not kinds:
        return []
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        for_dialect(conn, queries.waiting(kinds, REPLAY_LIMIT)), values
    )
    return [str(row["id"]) for row in rows]


async def any_known(provider_key: str, waits: Waits) -> bool:
    """Whether any id the event waits for is known now (one read on the unique keys)."""
    kinds = [kind for kind in KINDS if waits.get(kind)]
    if not kinds:
        return False
    values: list[Any] = []
    for kind in kinds:
        values += [provider_key, waits[kind]]
    return await sql.exists(connections.get("default"), queries.any_known(kinds), values)


def _db_time(value: datetime) -> Any:
    return ProviderEvent._meta.fields_map["received_at"].to_db_value(value, ProviderEvent)


# --- replaying ---------------------------------------------------------------------------


@dataclass
class Replayed:
    """What replaying one stored event did."""

    status: str
    """applied | unchanged (an operator's replay of an event already applied, or with
    nothing to apply: it changed nothing) | waiting (still unknown) | skipped (claimed
    elsewhere, or no longer deferred) | missing (no such row; an operator's replay) | failed
    (an error other than an unknown tenant; the event stays as it was)"""
    known: dict[IdKind, set[str]] = field(default_factory=dict)
    """Ids that applying it made known (other events may wait for them)."""
    error: str | None = None
    """Why it failed, safe to show an operator (the traceback is logged)."""


async def replay_one(registry: Registry, row_id: str, *, explicit: bool = False) -> Replayed:
    """Apply one stored event in its own transaction, at the event's own time.

    Automatic (`explicit=False`: after a commit, the safety net): only a deferred event,
    and only if no one else holds it (`SKIP LOCKED`). An operator's replay (`explicit`) takes
    any stored event, waiting for whoever holds it (PostgreSQL's `FOR UPDATE`), so two at
    once apply it once: the second finds it processed and changes nothing. Applied, an event
    deferred, unmatched or ignored (a type the plugin handles by now) becomes `processed`,
    and what it made known is replayed after the commit through the unit of work. One
    already processed is not applied a second time (`unchanged`): what it did committed with
    its status, and the appliers order a subscription's facts by the provider's time, so the
    same fact again after a later renewal (`invoice.paid`) would move its period back.

    Still unknown: it stays as it was (deferred, its waited-for ids updated; unmatched stays
    unmatched); if those are known by now (a transaction committed them meanwhile), it is
    tried again. Any other error is logged with the event's id and leaves it as it was.
    """
    event: WebhookEvent | None = None
    provider_event_id = "?"
    claim = queries.CLAIM_STORED if explicit else queries.CLAIM_DEFERRED
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with unit_of_work() as conn:
                _, rows = await conn.execute_query(claim.of(conn), [row_id])
                if not rows:
                    return Replayed("missing" if explicit else "skipped")
                status = str(rows[0]["status"])
                if status != "deferred" and not explicit:
                    return Replayed("skipped")  # settled meanwhile
                provider_key = str(rows[0]["provider_key"])
                provider_event_id = str(rows[0]["provider_event_id"])
                stored_waits = {kind: rows[0][COLUMN[kind]] for kind in KINDS}
                if status == "processed":  # only an operator's replay gets here
                    # Already applied: what it did committed with its status (its payload
                    # may be pruned since). It changes nothing and emits nothing.
                    return Replayed("unchanged")
                event = parse_webhook_body(registry, provider_key, str(rows[0]["payload"]).encode())
                if not event.facts:  # a type still ignored: nothing to apply
                    return Replayed("unchanged")
                ctx = await apply_facts(
                    provider_key,
                    event.facts,
                    occurred_at=event.created_at,
                    provider_event_id=event.provider_event_id,
                    using_db=conn,
                )
                known = known_after(ctx.identified, ctx.known, event.facts)
                await conn.execute_query(
                    for_dialect(conn, queries.MARK_APPLIED), [_db_time(utcnow()), row_id]
                )
                if explicit:
                    replay_after_commit(conn, registry, provider_key, known)
            return Replayed("applied", {} if explicit else known)
        except TenantUnknown as unknown:
            assert event is not None  # only applying the facts raises it
            waits = waits_of(unknown, event)
            if {kind: waits.get(kind) for kind in KINDS} != stored_waits:
                await _set_waits(row_id, waits)
            if attempt == ATTEMPTS or not await any_known(provider_key, waits):
                return Replayed("waiting")
        except (IntegrityError, OperationalError) as error:
            if attempt == ATTEMPTS:
                log.exception(
                    "replaying provider event %s (row %s) failed; it stays as it was",
                    provider_event_id,
                    row_id,
                )
                return Replayed("failed", error="a write conflict persisted; try again")
            log.info("retrying provider event %s after a conflict: %s", row_id, error)
        except Exception as error:
            log.exception(
                "replaying provider event %s (row %s) failed; it stays as it was",
                provider_event_id,
                row_id,
            )
            reason = error.message if isinstance(error, ApiError) else "see the service log"
            return Replayed("failed", error=reason)
    return Replayed("waiting")  # pragma: no cover


async def _set_waits(row_id: str, waits: Waits) -> None:
    conn = connections.get("default")
    values: list[Any] = [waits.get(kind) for kind in KINDS]
    await conn.execute_query(for_dialect(conn, queries.SET_WAITS), [*values, row_id])


async def replay_waiting(registry: Registry, provider_key: str, known: Known) -> int:
    """After a commit that made `known` ids known: replay the events waiting for them, and
    then those waiting for what these replays made known; how many applied.

    Never raises: the commit that called it has happened, and anything left over is the
    sweeper's.
    """
    frontier = {kind: set(ids) for kind, ids in known.items() if ids}
    seen: set[str] = set()
    applied = 0
    try:
        while frontier and len(seen) < REPLAY_LIMIT:
            rows = [row for row in await waiting_for(provider_key, frontier) if row not in seen]
            frontier = {}
            for row_id in rows[: REPLAY_LIMIT - len(seen)]:
                seen.add(row_id)
                outcome = await replay_one(registry, row_id)
                if outcome.status == "applied":
                    applied += 1
                    for kind, ids in outcome.known.items():
                        frontier.setdefault(kind, set()).update(ids)
    except Exception:
        log.exception("replaying deferred events of '%s' failed; the sweeper retries", provider_key)
    return applied


def replay_after_commit(
    conn: BaseDBAsyncClient, registry: Registry, provider_key: str, known: Known
) -> None:
    """Have `replay_waiting` run once `conn`'s unit of work committed, if anything became known."""
    if any(known.values()):
        after_commit(
            conn,
            (replay_waiting, provider_key),
            partial(replay_waiting, registry, provider_key, known),
        )


def check_after_commit(
    conn: BaseDBAsyncClient, registry: Registry, provider_key: str, row_id: str, waits: Waits
) -> None:
    """Have `after_deferral` run once the unit of work that stored this deferred row committed."""
    after_commit(
        conn,
        (after_deferral, row_id),
        partial(after_deferral, registry, provider_key, row_id, waits),
    )


async def after_deferral(registry: Registry, provider_key: str, row_id: str, waits: Waits) -> None:
    """Right after an event was stored deferred: if what it waits for became known while it
    was being stored (a concurrent commit that looked for waiting events too early), apply it."""
    try:
        if not await any_known(provider_key, waits):
            return
        outcome = await replay_one(registry, row_id)
        if outcome.status == "applied" and outcome.known:
            await replay_waiting(registry, provider_key, outcome.known)
    except Exception:
        log.exception("checking deferred provider event %s failed; the sweeper retries", row_id)


# --- the safety net and the TTL ----------------------------------------------------------


async def expire(ttl: timedelta, now: datetime | None = None) -> int:
    """Turn deferred events received more than `ttl` ago into `unmatched`; how many."""
    conn = connections.get("default")
    statement = queries.EXPIRE.of(conn)
    moment = now or utcnow()
    values = [_db_time(moment), _db_time(moment - ttl), EXPIRE_BATCH]
    total = 0
    for _ in range(EXPIRE_BATCHES):
        count, _ = await conn.execute_query(statement, values)
        total += count
        if count < EXPIRE_BATCH:
            break
    return total


@dataclass
class SweepResult:
    unmatched: int = 0
    replayed: int = 0
    scanned: int = 0


class DeferredSweeper:
    """The periodic safety net: every `interval` seconds, expire what is past the TTL and
    replay deferred events whose ids are known (a bounded batch, walking on from the last
    pass, wrapping around at the end). `start()` it on a running loop, `stop()` it once."""

    def __init__(
        self,
        registry: Registry,
        ttl_hours: float,
        *,
        interval: float = SWEEP_INTERVAL,
        scan_batch: int = SCAN_BATCH,
    ) -> None:
        self.registry = registry
        self.ttl = timedelta(hours=ttl_hours)
        self.interval = interval
        self.scan_batch = scan_batch
        self._cursor: tuple[Any, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def sweep(self) -> SweepResult:
        """One pass (also what tests call)."""
        result = SweepResult(unmatched=await expire(self.ttl))
        conn = connections.get("default")
        if self._cursor is None:
            statement, values = queries.SCAN_FIRST, [self.scan_batch]
        else:
            statement, values = queries.SCAN_AFTER, [*self._cursor, self.scan_batch]
        _, rows = await conn.execute_query(for_dialect(conn, statement), values)
        result.scanned = len(rows)
        full = len(rows) == self.scan_batch
        self._cursor = (rows[-1]["received_at"], rows[-1]["id"]) if full else None
        for row in rows:
            if not row["placeable"]:
                continue
            outcome = await replay_one(self.registry, str(row["id"]))
            if outcome.status == "applied":
                result.replayed += 1
                # Cascades stay within one provider key: the ids are that provider's.
                result.replayed += await replay_waiting(
                    self.registry, str(row["provider_key"]), outcome.known
                )
        if result.unmatched or result.replayed:
            log.info(
                "deferred events: %d replayed, %d past the TTL now unmatched",
                result.replayed,
                result.unmatched,
            )
        return result

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("deferred sweeper already started")
        self._task = asyncio.create_task(self._loop(), name="payments-deferred-sweeper")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stop.is_set():
            pause = self.interval
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping deferred events failed; retrying")
                pause = min(self.interval, ERROR_BACKOFF_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)
