"""Provider webhooks in: verify, store once, apply, and commit with the outbox, in one transaction.

`ingest_webhook` is the whole promise of "nothing lost, nothing twice, nothing backwards":
the signature is checked before anything is parsed or stored; the provider event row
(unique per provider key and event id) and every change and normalized event it causes
commit together, and only then does the caller answer 2xx. A repeat of a stored event,
even twenty at once, ends in one row and one set of events: the losers of the race on
the unique key see the winner's row and answer "duplicate".

`core.ingest.apply.apply_facts` is the one path from provider facts to records, used by
webhooks, deferred replays and reads from the provider alike.

An event whose tenant is not known yet is stored `deferred` with the ids it waits for;
`core.ingest.deferred` replays it once one of them is known. Only a commit that made ids known
(`ApplyContext.known`) looks for waiting events: one indexed query, after the commit.

What must follow the commit (waking the dispatcher, dropping plan-status answers, replaying
what became placeable) is registered on the transaction's unit of work by the code that
causes it (`core.store.unit_of_work`) and runs once the commit succeeded, before the answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError

from core.errors import ApiError, WebhookSignatureInvalid
from core.facts import (
    WebhookEvent,
)
from core.ingest import deferred, queries
from core.ingest.appliers.context import IdKind, TenantUnknown
from core.ingest.apply import apply_facts, parse_webhook_body
from core.metrics import WEBHOOK_EVENTS
from core.models import ProviderEvent
from core.plugins import Registry
from core.store import records, sql
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

log = logging.getLogger(__name__)
outcomes = logging.getLogger("platform_payments.webhooks")
"""One line per webhook: processed, duplicate, deferred, ignored, refused (or failed)."""

ATTEMPTS = 3
EVENT_KEY = ("provider_key", "provider_event_id")
"""The event row's unique key: one row per provider event, however often it arrives."""


@dataclass(frozen=True)
class IngestResult:
    provider_event_id: str
    status: str
    """processed | ignored | deferred | duplicate"""
    identified: bool = False
    """A customer, subscription, purchase or checkout became known: waiting events may apply."""
    known: Mapping[IdKind, set[str]] = field(default_factory=dict)
    """Which provider ids became known (what the events to replay wait for)."""
    row_id: str | None = None
    """The stored row of a deferred event."""
    waits: Mapping[IdKind, str] = field(default_factory=dict)
    """What a deferred event waits for."""


async def ingest_webhook(
    registry: Registry, provider_key: str, body: bytes, headers: dict[str, str]
) -> IngestResult:
    """Verify, store and apply one provider webhook; see the module docstring.

    Logs one line of its outcome (`platform_payments.webhooks`): the provider key, the
    provider's event id and type, the outcome and how long it took. Never the body or the
    headers: the signature header is a credential, and a body may hold card details.
    """
    started = time.perf_counter()
    provider = registry.provider(provider_key)
    try:
        if not body:
            raise WebhookSignatureInvalid("empty webhook body")
        provider.verify_webhook(body, headers)
        event = parse_webhook_body(registry, provider_key, body)
    except ApiError as error:
        _refused(provider_key, error, started)
        raise
    try:
        result = await _ingest(registry, provider_key, event, body)
    except Exception as error:
        _outcome(
            logging.WARNING, provider_key, event, "failed", started, error=type(error).__name__
        )
        raise
    WEBHOOK_EVENTS.labels(provider_key, result.status).inc()
    _outcome(logging.INFO, provider_key, event, result.status, started)
    return result


def _outcome(
    level: int,
    provider_key: str,
    event: WebhookEvent,
    outcome: str,
    started: float,
    **more: str,
) -> None:
    if outcomes.isEnabledFor(level):
        outcomes.log(
            level,
            "webhook %s %s: %s",
            event.provider_event_id,
            event.type,
            outcome,
            extra={
                "event": "webhook",
                "provider_key": provider_key,
                "provider_event_id": event.provider_event_id,
                "type": event.type,
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **more,
            },
        )


def _refused(provider_key: str, error: ApiError, started: float) -> None:
    """A webhook refused before it was stored: why (a signature's reason is safe to show; a
    payload's may quote the body, so only its code is logged)."""
    reason = error.message if isinstance(error, WebhookSignatureInvalid) else None
    outcomes.warning(
        "webhook of %s refused: %s",
        provider_key,
        error.code,
        extra={
            "event": "webhook",
            "provider_key": provider_key,
            "provider_event_id": None,
            "type": None,
            "outcome": "refused",
            "code": error.code,
            "reason": reason,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


async def _is_stored(provider_key: str, event: WebhookEvent) -> bool:
    return await sql.exists(
        connections.get("default"), queries.EVENT_STORED, [provider_key, event.provider_event_id]
    )


class _AlreadyStored(Exception):
    """The event row exists: the transaction that found so rolls back and answers duplicate."""


async def _ingest(
    registry: Registry, provider_key: str, event: WebhookEvent, body: bytes
) -> IngestResult:
    """Store and apply, retrying a transaction that lost a race on a unique key.

    The event row is written first, unless it exists (`ON CONFLICT DO NOTHING`): a repeat
    finds it and rolls back at once; a twin arriving while the first is still in flight
    waits on the unique key until that one commits (then it is a duplicate) or rolls back
    (then it applies the event itself). A transaction that lost a race to a *different*
    event creating the same record (a subscription's `created` and `updated` at once) is
    simply run again.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await _store_and_apply(registry, provider_key, event, body)
        except (IntegrityError, OperationalError) as error:
            if await _is_stored(provider_key, event):
                return IngestResult(event.provider_event_id, "duplicate")
            if attempt == ATTEMPTS:
                raise
            log.info("retrying event %s after a write conflict: %s", event.provider_event_id, error)
    raise AssertionError("unreachable")  # pragma: no cover


async def _store_and_apply(
    registry: Registry, provider_key: str, event: WebhookEvent, body: bytes
) -> IngestResult:
    """Store the event and apply its facts in one unit of work.

    An event whose tenant is not known yet rolls back whatever it began and is stored alone,
    as `deferred` with the ids it waits for, in a second one; right after it, if what it
    waits for became known meanwhile, it is applied (`deferred.after_deferral`).
    """
    duplicate = IngestResult(event.provider_event_id, "duplicate")
    status = "processed" if event.facts else "ignored"
    try:
        identified = False
        known: dict[IdKind, set[str]] = {}
        async with unit_of_work() as conn:
            if not await _store(provider_key, event, body, status, conn):
                raise _AlreadyStored
            if event.facts:
                ctx = await apply_facts(
                    provider_key,
                    event.facts,
                    occurred_at=event.created_at,
                    provider_event_id=event.provider_event_id,
                    using_db=conn,
                )
                identified = ctx.identified
                known = deferred.known_after(identified, ctx.known, event.facts)
                deferred.replay_after_commit(conn, registry, provider_key, known)
        return IngestResult(event.provider_event_id, status, identified, known)
    except _AlreadyStored:
        return duplicate
    except TenantUnknown as unknown:
        waits = deferred.waits_of(unknown, event)
        async with unit_of_work() as conn:
            row = _row(provider_key, event, body, "deferred", waits)
            stored = await records.insert_unless_exists(conn, row, EVENT_KEY)
            if stored:
                deferred.check_after_commit(conn, registry, provider_key, str(row.id), waits)
        if not stored:
            return duplicate
        return IngestResult(event.provider_event_id, "deferred", row_id=str(row.id), waits=waits)


async def _store(
    provider_key: str, event: WebhookEvent, body: bytes, status: str, conn: BaseDBAsyncClient
) -> bool:
    """Write the event row unless it exists; whether it was written."""
    row = _row(provider_key, event, body, status, {})
    return await records.insert_unless_exists(conn, row, EVENT_KEY)


def _row(
    provider_key: str,
    event: WebhookEvent,
    body: bytes,
    status: str,
    waits: Mapping[IdKind, str],
) -> ProviderEvent:
    return ProviderEvent(
        provider_key=provider_key,
        provider_event_id=event.provider_event_id,
        type=event.type,
        api_version=event.api_version,
        event_created_at=event.created_at,
        payload=body.decode("utf-8", errors="replace"),
        status=status,
        processed_at=utcnow() if status != "deferred" else None,
        **deferred.waits_columns(waits),
    )
