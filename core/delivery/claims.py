"""The delivery lease: claiming due deliveries, finishing an attempt under the lease, releasing.

A claimed delivery is `in_flight` with a `lease_owner` and `lease_expires_at`. Due means
`pending` with `next_attempt_at <= now`, or `in_flight` with an expired lease (its worker
died). On PostgreSQL one `UPDATE ... WHERE id IN (... FOR UPDATE SKIP LOCKED)`
claims a batch, so any number of workers can share the table without sending one
delivery twice at once. On SQLite one dispatcher per database file is the rule; its claim
still runs in a transaction.

Only deliveries in the caller's scope (consumer keys it can send to, and the event types
each wants) are claimed; the rest stay pending until some process can send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from core.models import DeliveryAttempt, EventDelivery
from core.store.dialect import is_postgres
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

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
    """Lease up to `limit` due deliveries, oldest due first."""
    if not scopes or limit <= 0:
        return []
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    connection = EventDelivery._meta.db
    if is_postgres(connection):
        return await _claim_postgres(scopes, owner, now, expires, limit)
    return await _claim_single_writer(scopes, owner, now, expires, limit)


async def _claim_postgres(
    scopes: Sequence[ConsumerScope], owner: str, now: datetime, expires: datetime, limit: int
) -> list[Claimed]:
    values: list[Any] = [owner, expires, now, limit]
    every_type = [s.key for s in scopes if s.event_types is None]
    branches = []
    if every_type:
        values.append(every_type)
        branches.append(f"consumer_key = ANY(${len(values)}::text[])")
    for scope in scopes:
        if scope.event_types is not None:
            values.extend([scope.key, list(scope.event_types)])
            branches.append(
                f"(consumer_key = ${len(values) - 1} AND event_type = ANY(${len(values)}::text[]))"
            )
    # Two branches, each an ordered range of the (status, next_attempt_at) index that stops
    # after `limit` rows. As one `(pending AND due) OR (in_flight AND expired)`, PostgreSQL
    # read and sorted every due delivery on each claim.
    in_scope = " OR ".join(branches)
    sql = f"""
        WITH pending AS (
            SELECT id, next_attempt_at FROM event_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $3 AND ({in_scope})
             ORDER BY next_attempt_at
             LIMIT $4
               FOR UPDATE SKIP LOCKED
        ), expired AS (
            SELECT id, next_attempt_at FROM event_deliveries
             WHERE status = 'in_flight' AND lease_expires_at <= $3 AND ({in_scope})
             ORDER BY next_attempt_at
             LIMIT $4
               FOR UPDATE SKIP LOCKED
        )
        UPDATE event_deliveries
           SET status = 'in_flight', lease_owner = $1, lease_expires_at = $2, updated_at = $3
         WHERE id IN (
               SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) due
                ORDER BY next_attempt_at
                LIMIT $4)
        RETURNING id, event_id, consumer_key, event_type, attempt_count
    """
    rows = await EventDelivery._meta.db.execute_query_dict(sql, values)
    return [_claimed(row) for row in rows]


def _due(now: datetime) -> Q:
    return Q(status="pending", next_attempt_at__lte=now) | Q(
        status="in_flight", lease_expires_at__lte=now
    )


def _scope(scopes: Sequence[ConsumerScope]) -> Q:
    branches = [
        Q(consumer_key=s.key)
        if s.event_types is None
        else Q(consumer_key=s.key, event_type__in=list(s.event_types))
        for s in scopes
    ]
    return Q(*branches, join_type=Q.OR)


async def _claim_single_writer(
    scopes: Sequence[ConsumerScope], owner: str, now: datetime, expires: datetime, limit: int
) -> list[Claimed]:
    fields = ("id", "event_id", "consumer_key", "event_type", "attempt_count")
    async with unit_of_work() as connection:
        ids = (
            await EventDelivery.filter(_due(now), _scope(scopes))
            .using_db(connection)
            .order_by("next_attempt_at")
            .limit(limit)
            .values_list("id", flat=True)
        )
        if not ids:
            return []
        await (
            EventDelivery.filter(_due(now), id__in=list(ids))
            .using_db(connection)
            .update(status="in_flight", lease_owner=owner, lease_expires_at=expires, updated_at=now)
        )
        # Only what this update really leased (another process may have raced us to a row).
        rows = (
            await EventDelivery.filter(id__in=list(ids), lease_owner=owner, status="in_flight")
            .using_db(connection)
            .order_by("next_attempt_at")
            .values(*fields)
        )
    return [_claimed(row) for row in rows]


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
    """Store the attempt and the delivery's next state in one transaction, under the lease.

    Returns False (and stores nothing) when the lease was taken over by another worker,
    whose state must not be overwritten.
    """
    now = now or utcnow()
    changes: dict[str, Any] = {
        "status": status,
        "attempt_count": claimed.attempt_count + 1,
        "next_attempt_at": next_attempt_at,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_status_code": attempt.status_code,
        "last_error": _cut(attempt.error, ERROR_LIMIT),
        "updated_at": now,
    }
    if status == "delivered":
        changes["delivered_at"] = now
    if status == "failed":
        changes["failed_at"] = now
    if is_postgres(EventDelivery._meta.db):
        return await _finish_postgres(claimed, owner, attempt, changes)
    async with unit_of_work() as connection:
        changed = (
            await EventDelivery.filter(id=claimed.id, lease_owner=owner, status="in_flight")
            .using_db(connection)
            .update(**changes)
        )
        if not changed:
            return False
        last = (
            await DeliveryAttempt.filter(delivery_id=claimed.id)
            .using_db(connection)
            .order_by("-number")
            .first()
            .values_list("number", flat=True)
        )
        await DeliveryAttempt.create(
            delivery_id=claimed.id,
            number=int(last or 0) + 1,  # type: ignore[arg-type]
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=attempt.status_code,
            error=_cut(attempt.error, ERROR_LIMIT),
            response_body=_cut(attempt.response_body, RESPONSE_BODY_LIMIT),
            using_db=connection,
        )
    return True


_FINISH_POSTGRES = """
WITH moved AS (
    UPDATE event_deliveries
       SET status = $3::text, attempt_count = $4, next_attempt_at = $5, lease_owner = NULL,
           lease_expires_at = NULL, last_status_code = $6, last_error = $7, updated_at = $8,
           delivered_at = CASE WHEN $3::text = 'delivered' THEN $8 ELSE delivered_at END,
           failed_at = CASE WHEN $3::text = 'failed' THEN $8 ELSE failed_at END
     WHERE id = $1 AND lease_owner = $2 AND status = 'in_flight'
    RETURNING id
)
INSERT INTO delivery_attempts
       (delivery_id, number, started_at, duration_ms, status_code, error, response_body)
SELECT moved.id,
       COALESCE((SELECT max(number) FROM delivery_attempts WHERE delivery_id = $1), 0) + 1,
       $9, $10, $6, $7, $11
  FROM moved
RETURNING id
"""


async def _finish_postgres(
    claimed: Claimed, owner: str, attempt: AttemptRecord, changes: dict[str, Any]
) -> bool:
    """The same as the transaction below, in one statement (one round trip instead of five):
    the attempt is inserted only if the guarded update moved the delivery."""
    _, rows = await EventDelivery._meta.db.execute_query(
        _FINISH_POSTGRES,
        [
            claimed.id,
            owner,
            changes["status"],
            changes["attempt_count"],
            changes["next_attempt_at"],
            changes["last_status_code"],
            changes["last_error"],
            changes["updated_at"],
            attempt.started_at,
            attempt.duration_ms,
            _cut(attempt.response_body, RESPONSE_BODY_LIMIT),
        ],
    )
    return bool(rows)


async def release(owner: str, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Give back leases (shutdown): the deliveries are due again at once, for any worker."""
    now = utcnow()
    query = EventDelivery.filter(lease_owner=owner, status="in_flight")
    if ids is not None:
        query = query.filter(id__in=list(ids))
    return await query.update(
        status="pending",
        lease_owner=None,
        lease_expires_at=None,
        next_attempt_at=now,
        updated_at=now,
    )
