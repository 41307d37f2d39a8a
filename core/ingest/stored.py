"""Stored provider events for operators: the list, one with its payload, and the replay.

A replay applies the stored event again through the one path (`core.ingest.deferred.replay_one`
with `explicit=True`: the provider plugin's parse, `apply_facts` at the event's own time, one
unit of work): an event already applied changes nothing, one whose tenant became known is
applied and becomes `processed`, one still unknown stays as it was.

Serialization to the API's camelCase shapes lives here too, next to the only service that
produces them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from core.errors import ApiError, NotFound, Unprocessable
from core.ingest import deferred
from core.ingest.queries import COLUMN, KINDS
from core.models import ProviderEvent
from core.plugins import Registry
from core.store.pagination import DEFAULT_LIMIT, Page, SortKey, paginate
from core.timeutil import isoformat

STATUSES = ("processed", "ignored", "deferred", "unmatched")
NEWEST_RECEIVED = (SortKey("received_at", True), SortKey("id", True))
OLDEST_RECEIVED = (SortKey("received_at"), SortKey("id"))
REPLAY_OUTCOMES = ("applied", "unchanged", "waiting")
"""What an operator's replay answers: applied now, changed nothing (already applied, or
nothing to apply), still waiting for its tenant."""
BULK_BATCH = 200
LIST_FIELDS = tuple(sorted(name for name in ProviderEvent._meta.db_fields if name != "payload"))
"""Every column but the payload (a list never reads it)."""
WAIT_KEYS = {"customer": "customer", "subscription": "subscription", "payment": "payment"}
WAIT_KEYS["checkout_session"] = "checkoutSession"


def _not_found(ref: str) -> NotFound:
    return NotFound(f"provider event '{ref}' not found", code="provider_event_not_found")


def _parse_id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise _not_found(ref) from None


def _filtered(
    provider_key: str | None, event_type: str | None, status: str | None, since: datetime | None
) -> Any:
    query = ProviderEvent.all()
    if provider_key is not None:
        query = query.filter(provider_key=provider_key)
    if event_type is not None:
        query = query.filter(type=event_type)
    if status is not None:
        query = query.filter(status=status)
    if since is not None:
        query = query.filter(received_at__gte=since)
    return query


async def list_events(
    *,
    provider_key: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ProviderEvent]:
    """Stored events newest first (by when they were received), optionally narrowed.

    The payload is not read: `provider_events_received_idx` and `provider_events_type_idx`
    (and `provider_events_status_idx`) walk the newest rows of each filter.
    """
    query = _filtered(provider_key, event_type, status, since).only(*LIST_FIELDS)
    page: Page[ProviderEvent] = await paginate(
        query, limit=limit, cursor=cursor, order=NEWEST_RECEIVED
    )
    return page


async def get_event(ref: str) -> ProviderEvent:
    """One stored event with its payload; 404 `provider_event_not_found` if unknown."""
    found = await ProviderEvent.get_or_none(id=_parse_id(ref))
    if found is None:
        raise _not_found(ref)
    return found


@dataclass(frozen=True)
class ReplayResult:
    outcome: str
    """applied | unchanged | waiting | failed"""
    event: ProviderEvent | None
    """The event as it is after the replay (None if it vanished)."""
    error: str | None = None


async def replay(registry: Registry, ref: str) -> ReplayResult:
    """Apply one stored event again (see the module docstring); 404 if unknown."""
    row_id = _parse_id(ref)
    done = await deferred.replay_one(registry, str(row_id), explicit=True)
    if done.status == "missing":
        raise _not_found(ref)
    event = await ProviderEvent.get_or_none(id=row_id)
    return ReplayResult(done.status, event, done.error)


async def replay_or_raise(registry: Registry, ref: str) -> ReplayResult:
    """`replay` for a caller that answers a failure as an error: 422
    `provider_event_replay_failed`, the event left as it was."""
    result = await replay(registry, ref)
    if result.outcome == "failed" or result.event is None:
        raise Unprocessable(
            f"replaying provider event '{ref}' failed, it is left as it was: {result.error}",
            code="provider_event_replay_failed",
        )
    return result


# --- bulk (`payments events replay`) ------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which stored events a bulk replay takes: exactly one of the three."""

    id: str | None = None
    status: str | None = None
    since: datetime | None = None


def _selected(selection: Selection) -> Any:
    return _filtered(None, None, selection.status, selection.since)


async def count_selected(selection: Selection) -> int:
    if selection.id is not None:
        return 1
    total: int = await _selected(selection).count()
    return total


async def selected_ids(selection: Selection, batch: int = BULK_BATCH) -> AsyncIterator[str]:
    """The ids of the selected events, oldest received first, a keyset page at a time (an
    event that leaves the selection as it is replayed moves no other one)."""
    if selection.id is not None:
        yield str(_parse_id(selection.id))
        return
    cursor: str | None = None
    while True:
        query = _selected(selection).only("id", "received_at")
        page = await paginate(query, limit=batch, cursor=cursor, order=OLDEST_RECEIVED)
        for row in page.items:
            yield str(row.id)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@dataclass
class ReplayTally:
    """What a bulk replay did so far."""

    applied: int = 0
    unchanged: int = 0
    waiting: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(event id, why) of each that failed."""

    @property
    def replayed(self) -> int:
        return self.applied + self.unchanged + self.waiting + self.failed

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def fail(self, ref: str, reason: str) -> None:
        self.failed += 1
        self.failures.append((ref, reason))

    def summary(self) -> str:
        return (
            f"replayed {self.replayed}: applied {self.applied}, unchanged {self.unchanged},"
            f" waiting {self.waiting}, failed {self.failed}"
        )


async def replay_selected(
    registry: Registry,
    selection: Selection,
    progress: Callable[[ReplayTally], None] | None = None,
) -> ReplayTally:
    """Replay every selected event, oldest received first, each as `replay` does (its own
    unit of work); a failure is counted and the rest go on. `progress` hears of each."""
    tally = ReplayTally()
    try:
        async for row_id in selected_ids(selection):
            try:
                result = await replay(registry, row_id)
            except ApiError as error:
                tally.fail(row_id, error.message)
            else:
                if result.outcome == "failed":
                    tally.fail(row_id, result.error or "failed")
                else:
                    tally.add(result.outcome)
            if progress is not None:
                progress(tally)
    except NotFound as error:  # `--id` that names no event
        tally.fail(selection.id or "?", error.message)
    return tally


# --- shapes ------------------------------------------------------------------------------


def waits_for(event: ProviderEvent) -> dict[str, str] | None:
    """The provider ids a deferred or unmatched event waits for, by kind; else None."""
    if event.status not in ("deferred", "unmatched"):
        return None
    found = {WAIT_KEYS[kind]: getattr(event, COLUMN[kind]) for kind in KINDS}
    return {kind: value for kind, value in found.items() if value}


def event_body(event: ProviderEvent) -> dict[str, Any]:
    """A stored event as the list shows it (no payload)."""
    return {
        "id": str(event.id),
        "providerKey": event.provider_key,
        "providerEventId": event.provider_event_id,
        "type": event.type,
        "apiVersion": event.api_version,
        "status": event.status,
        "eventCreatedAt": isoformat(event.event_created_at),
        "receivedAt": isoformat(event.received_at),
        "processedAt": isoformat(event.processed_at),
        "waitsFor": waits_for(event),
    }


def payload_of(event: ProviderEvent) -> dict[str, Any] | None:
    """The raw payload as stored, parsed back; None when it is not a JSON object (pruned)."""
    try:
        parsed = orjson.loads(event.payload)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def event_detail_body(event: ProviderEvent) -> dict[str, Any]:
    """A stored event with its raw payload."""
    return {**event_body(event), "payload": payload_of(event)}


def replay_body(result: ReplayResult) -> dict[str, Any]:
    """The event after an operator's replay, and what the replay did (`replay`)."""
    assert result.event is not None
    return {**event_body(result.event), "replay": result.outcome}
