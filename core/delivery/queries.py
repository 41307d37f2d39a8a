"""Delivery's SQL: claiming due deliveries and finishing an attempt, for both databases.

Written in `core.store.dialect`'s one scheme (`$n`, which SQLite reads as `?n`, so a value
may be named twice). PostgreSQL and SQLite share every statement's text except where one of
them needs its own: `FOR UPDATE SKIP LOCKED` and `= ANY(array)` in the claim, and the finish,
which PostgreSQL runs as one statement (a data-modifying CTE, which SQLite lacks) and SQLite
as the same UPDATE and INSERT one after the other in a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.models.delivery import DELIVERED, FAILED, IN_FLIGHT, PENDING

NOTIFY = "SELECT pg_notify($1, $2)"
"""Wake dispatchers in every process (PostgreSQL; delivered at commit inside a transaction)."""

_CLAIM = f"""
WITH pending AS (
    SELECT id, next_attempt_at FROM event_deliveries
     WHERE status = '{PENDING}' AND next_attempt_at <= $3 AND ({{in_scope}})
     ORDER BY next_attempt_at
     LIMIT $4{{lock}}
), expired AS (
    SELECT id, next_attempt_at FROM event_deliveries
     WHERE status = '{IN_FLIGHT}' AND lease_expires_at <= $3 AND ({{in_scope}})
     ORDER BY next_attempt_at
     LIMIT $4{{lock}}
)
UPDATE event_deliveries
   SET status = '{IN_FLIGHT}', lease_owner = $1, lease_expires_at = $2, updated_at = $3
 WHERE id IN (
       SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) due
        ORDER BY next_attempt_at
        LIMIT $4)
RETURNING id, event_id, consumer_key, event_type, attempt_count
"""
"""Two branches, each an ordered range of the (status, next_attempt_at) index that stops after
`limit` rows. As one `(pending AND due) OR (in_flight AND expired)`, PostgreSQL read and
sorted every due delivery on each claim."""


def claim(
    scopes: Sequence[tuple[str, Sequence[str] | None]], postgres: bool
) -> tuple[str, list[Any]]:
    """The claim for these scopes (consumer key, the event types it wants or None for all),
    and its values after the first four: $1 owner, $2 lease expiry, $3 now, $4 limit."""
    values: list[Any] = []

    def slot(value: Any) -> str:
        values.append(value)
        return f"${4 + len(values)}"

    def one_of(items: Sequence[str]) -> str:
        if postgres:
            return f"= ANY({slot(list(items))}::text[])"
        return f"IN ({', '.join(slot(item) for item in items)})"

    branches = []
    every_type = [key for key, types in scopes if types is None]
    if every_type:
        branches.append(f"consumer_key {one_of(every_type)}")
    for key, types in scopes:
        if types is not None:
            branches.append(f"(consumer_key = {slot(key)} AND event_type {one_of(types)})")
    lock = "\n       FOR UPDATE SKIP LOCKED" if postgres else ""
    return _CLAIM.format(in_scope=" OR ".join(branches), lock=lock), values


_MOVE = f"""
UPDATE event_deliveries
   SET status = CAST($3 AS TEXT), attempt_count = $4, next_attempt_at = $5, lease_owner = NULL,
       lease_expires_at = NULL, last_status_code = $6, last_error = $7, updated_at = $8,
       delivered_at = CASE WHEN CAST($3 AS TEXT) = '{DELIVERED}' THEN $8 ELSE delivered_at END,
       failed_at = CASE WHEN CAST($3 AS TEXT) = '{FAILED}' THEN $8 ELSE failed_at END
 WHERE id = $1 AND lease_owner = $2 AND status = '{IN_FLIGHT}'
"""
_ATTEMPT = """
INSERT INTO delivery_attempts
       (delivery_id, number, started_at, duration_ms, status_code, error, response_body)
SELECT {delivery},
       COALESCE((SELECT max(number) FROM delivery_attempts WHERE delivery_id = $1), 0) + 1,
       $9, $10, $6, $7, $11
"""
FINISH_VALUES = 11
"""The finish's values: $1 delivery id, $2 owner, $3 status, $4 attempt count, $5 next attempt,
$6 status code, $7 error, $8 now, $9 attempt start, $10 duration, $11 response body."""
FINISH = f"WITH moved AS ({_MOVE} RETURNING id) {_ATTEMPT.format(delivery='moved.id')}"
FINISH += " FROM moved RETURNING id"
"""PostgreSQL: the guarded move and the attempt in one statement; a row back if it moved."""
MOVE = _MOVE
"""SQLite, first: the guarded move (values $1 to $8); a changed row if the lease was ours."""
ADD_ATTEMPT = _ATTEMPT.format(delivery="$1")
"""SQLite, then: the attempt, numbered after the delivery's last."""


_REQUEUE_MATCHING = f"""
UPDATE event_deliveries
   SET status = '{PENDING}', next_attempt_at = $1, updated_at = $1, lease_owner = NULL,
       lease_expires_at = NULL, failed_at = NULL,
       attempt_count = CASE WHEN status = '{FAILED}' THEN 0 ELSE attempt_count END
 WHERE id IN (SELECT id FROM event_deliveries WHERE {{where}} LIMIT $2{{lock}})
RETURNING consumer_key
"""


def requeue_matching(
    status: str,
    consumer_key: str | None,
    event_type: str | None,
    created_since: Any,
    postgres: bool,
) -> tuple[str, list[Any]]:
    """The operator's bulk retry, one bounded batch: matching deliveries due now, as
    `claims.requeue` moves one (a failed one with a fresh schedule, a pending one keeping
    its place in it), and its values after the first two: $1 now, $2 the batch size.

    A pending delivery matches only while it is not due yet (`next_attempt_at > now`), so
    a batch never takes what an earlier one moved, and an in-flight one never matches. On
    PostgreSQL rows another transaction holds (a claim) are skipped, not waited for.
    """
    values: list[Any] = []

    def slot(value: Any) -> str:
        values.append(value)
        return f"${2 + len(values)}"

    where = [f"status = {slot(status)}"]
    if status == PENDING:
        where.append("next_attempt_at > $1")
    if consumer_key is not None:
        where.append(f"consumer_key = {slot(consumer_key)}")
    if event_type is not None:
        where.append(f"event_type = {slot(event_type)}")
    if created_since is not None:
        where.append(f"created_at >= {slot(created_since)}")
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    return _REQUEUE_MATCHING.format(where=" AND ".join(where), lock=lock), values


# The /metrics gauges (`core.gauges`), one statement each, read at scrape time.
COUNT_BY_STATUS_AND_CONSUMER = (
    "SELECT status, consumer_key, COUNT(*) AS n FROM event_deliveries GROUP BY status, consumer_key"
)
"""From `event_deliveries_status_consumer_idx` alone (PostgreSQL: an index-only scan)."""
OLDEST_PENDING = (
    f"SELECT MIN(created_at) AS oldest FROM event_deliveries WHERE status = '{PENDING}'"
)
"""One entry of `event_deliveries_status_created_idx`, however long the history."""

# Retention (`core.retention`): one batch each, oldest first, by the (created_at, id) index.
PRUNABLE_DELIVERIES = f"""
SELECT id FROM event_deliveries
 WHERE created_at < $1 AND status = '{DELIVERED}'
 ORDER BY created_at, id
 LIMIT $2
"""
COUNT_PRUNABLE_DELIVERIES = (
    f"SELECT COUNT(*) AS n FROM event_deliveries WHERE created_at < $1 AND status = '{DELIVERED}'"
)
COUNT_PRUNABLE_ATTEMPTS = f"""
SELECT COUNT(*) AS n FROM delivery_attempts a
  JOIN event_deliveries d ON d.id = a.delivery_id
 WHERE d.created_at < $1 AND d.status = '{DELIVERED}'
"""


def delete_attempts_of(count: int) -> str:
    """Delete the attempts of `count` deliveries (their ids $1..$count) that are still
    delivered (an operator's retry since the batch was read keeps its history)."""
    slots = ", ".join(f"${i}" for i in range(1, count + 1))
    return (
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        f"(SELECT id FROM event_deliveries WHERE id IN ({slots}) AND status = '{DELIVERED}')"
    )


def delete_deliveries(count: int) -> str:
    """Delete `count` deliveries ($1..$count), each still delivered (a retry since moved it)."""
    slots = ", ".join(f"${i}" for i in range(1, count + 1))
    return f"DELETE FROM event_deliveries WHERE id IN ({slots}) AND status = '{DELIVERED}'"
