"""Every transition of a delivery: claiming due ones, finishing an attempt under the lease,
releasing leases, and the operator's retry (`requeue`). Recording one is the outbox's
(`core.delivery.outbox`); the statements are in `core.delivery.queries`.

A claimed delivery is `in_flight` with a `lease_owner` and `lease_expires_at`. Due means
`pending` with `next_attempt_at <= now`, or `in_flight` with an expired lease (its worker
died). On PostgreSQL one `UPDATE ... WHERE id IN (... FOR UPDATE SKIP LOCKED)`
claims a batch, so any number of workers can share the table without sending one
delivery twice at once. On SQLite the same statement runs without the lock clause (SQLite
has one writer; one dispatcher per database file is the rule).

Only deliveries in the caller's scope (consumer keys it can send to, and the event types
each wants) are claimed; the rest stay pending until some process can send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.delivery import queries
from core.delivery.outbox import notify, wake_after_commit
from core.errors import Conflict
from core.models import EventDelivery
from core.models.delivery import DELIVERED, FAILED, IN_FLIGHT, PENDING
from core.store.dialect import for_dialect, is_postgres
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

_DATETIME = EventDelivery._meta.fields_map["next_attempt_at"]
_ID = EventDelivery._meta.fields_map["id"]
RESPONSE_BODY_LIMIT = 4096
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class ConsumerScope:
    """One consumer key a dispatcher may claim for, and the event types it wants (None: all)."""

    key: str
    event_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker now holds the lease on."""

    id: uuid.UUID
    event_id: uuid.UUID
    consumer_key: str
    event_type: str
    attempt_count: int


@dataclass(frozen=True)
class AttemptRecord:
    """What one attempt did, to be stored with the delivery's next state."""

    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=_uuid(row["id"]),
        event_id=_uuid(row["event_id"]),
        consumer_key=row["consumer_key"],
        event_type=row["event_type"],
        attempt_count=int(row["attempt_count"]),
    )


async def claim_due(
    scopes: Sequence[ConsumerScope],
    owner: str,
    lease_seconds: float,
    limit: int,
    now: datetime | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due deliveries, oldest due first, in one statement."""
    if not scopes or limit <= 0:
        return []
    now = now or utcnow()
    connection = EventDelivery._meta.db
    statement, scope_values = queries.claim(
        [(s.key, s.event_types) for s in scopes], is_postgres(connection)
    )
    values = [owner, _time(now + timedelta(seconds=lease_seconds)), _time(now), limit]
    rows = await connection.execute_query_dict(
        for_dialect(connection, statement), [*values, *scope_values]
    )
    return [_claimed(row) for row in rows]


def _time(value: datetime | None) -> Any:
    """A time as the delivery table's columns store it (SQLite: Tortoise's text form)."""
    return _DATETIME.to_db_value(value, EventDelivery)


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


async def finish_attempt(
    claimed: Claimed,
    owner: str,
    *,
    attempt: AttemptRecord,
    status: str,
    next_attempt_at: datetime | None,
    now: datetime | None = None,
) -> bool:
    """Store the attempt and the delivery's next state together, under the lease (one
    statement on PostgreSQL, one transaction on SQLite).

    Returns False (and stores nothing) when the lease was taken over by another worker,
    whose state must not be overwritten.
    """
    now = now or utcnow()
    values = [  # queries.FINISH_VALUES, in order
        _ID.to_db_value(claimed.id, EventDelivery),
        owner,
        status,
        claimed.attempt_count + 1,
        _time(next_attempt_at),
        attempt.status_code,
        _cut(attempt.error, ERROR_LIMIT),
        _time(now),
        _time(attempt.started_at),
        attempt.duration_ms,
        _cut(attempt.response_body, RESPONSE_BODY_LIMIT),
    ]
    connection = EventDelivery._meta.db
    if is_postgres(connection):  # one round trip: the attempt only if the guarded move moved
        _, rows = await connection.execute_query(queries.FINISH, values)
        return bool(rows)
    async with unit_of_work() as connection:
        moved, _ = await connection.execute_query(for_dialect(connection, queries.MOVE), values[:8])
        if not moved:
            return False
        await connection.execute_query(for_dialect(connection, queries.ADD_ATTEMPT), values)
    return True


async def release(owner: str, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Give back leases (shutdown): the deliveries are due again at once, for any worker."""
    now = utcnow()
    query = EventDelivery.filter(lease_owner=owner, status=IN_FLIGHT)
    if ids is not None:
        query = query.filter(id__in=list(ids))
    return await query.update(
        status=PENDING,
        lease_owner=None,
        lease_expires_at=None,
        next_attempt_at=now,
        updated_at=now,
    )


async def requeue(delivery_id: uuid.UUID, ref: str) -> EventDelivery | None:
    """An operator's retry: the delivery is due now, keeping its attempt history; None if
    there is no such delivery.

    A failed or delivered delivery starts a fresh retry schedule; a pending one keeps its
    place in the schedule. 409 `delivery_in_flight` while an attempt is in flight under a
    live lease (`ref` names it as the caller did).
    """
    now = utcnow()
    async with unit_of_work() as connection:
        delivery = (
            await EventDelivery.filter(id=delivery_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if delivery is None:
            return None
        leased = delivery.lease_expires_at is not None and delivery.lease_expires_at > now
        if delivery.status == IN_FLIGHT and leased:
            raise Conflict(
                f"event delivery '{ref}' has an attempt in flight; retry once it ends",
                code="delivery_in_flight",
            )
        if delivery.status in (FAILED, DELIVERED):
            delivery.attempt_count = 0
        delivery.status = PENDING
        delivery.next_attempt_at = now
        delivery.lease_owner = None
        delivery.lease_expires_at = None
        delivery.failed_at = None
        await delivery.save(using_db=connection)
        await notify(delivery.consumer_key, connection)
        wake_after_commit(connection)
    return delivery


REQUEUE_BATCH = 1000
"""Deliveries one statement of the bulk retry moves (each batch its own transaction)."""
RETRYABLE = (FAILED, PENDING)
"""What the bulk retry takes: failed deliveries, and pending ones waiting for a later attempt."""


async def requeue_matching(
    status: str,
    *,
    consumer_key: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    batch: int = REQUEUE_BATCH,
) -> int:
    """The operator's bulk retry: every delivery in `status` (failed, or pending and not due
    yet), of that consumer and event type, created at or after `since`, due now, as
    `requeue` moves one; never one in flight. A bounded batch per statement and transaction,
    the dispatchers woken after each; how many moved."""
    if status not in RETRYABLE:
        raise ValueError(f"cannot bulk-retry deliveries in status {status!r}")
    now = utcnow()
    total = 0
    while True:
        async with unit_of_work() as connection:
            statement, extra = queries.requeue_matching(
                status, consumer_key, event_type, _time(since), is_postgres(connection)
            )
            rows = await connection.execute_query_dict(
                for_dialect(connection, statement), [_time(now), batch, *extra]
            )
            for key in sorted({row["consumer_key"] for row in rows}):
                await notify(key, connection)
            if rows:
                wake_after_commit(connection)
        total += len(rows)
        if len(rows) < batch:
            return total
