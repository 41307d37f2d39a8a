"""The `provider_reads` table's operations: ask for a read, claim due reads, finish them.

`enqueue` runs inside the transaction that learned an object must be read (one
`INSERT ... ON CONFLICT DO NOTHING` on the task's unique key, so asking twice asks once).
The runner (`core.ingest.provider_reads`) claims due tasks under a lease: on PostgreSQL one
`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`, so runners in several
processes never take one task at once; on SQLite (one writer) the same statement without
the lock clause. A claim moves `due_at` to the lease's end, so a task whose runner died is
simply due again then. Finishing is guarded by the lease owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from core.delivery.outbox import wake_after_commit
from core.ingest import queries
from core.models import ProviderRead
from core.store import records
from core.store.dialect import for_dialect
from core.timeutil import utcnow

SUBSCRIPTION = "subscription"
KEY = ("provider_key", "kind", "provider_object_id")
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class ClaimedRead:
    """A task this runner holds the lease on; `attempts` counts this one."""

    id: uuid.UUID
    provider_key: str
    kind: str
    provider_object_id: str
    attempts: int


class _Asked:
    """How many reads this process asked for: a runner here wakes when it moved (on
    `core.delivery.outbox.wake_local`, which the asking unit of work runs after its commit)."""

    count = 0


def asked_here() -> int:
    return _Asked.count


async def enqueue(
    conn: BaseDBAsyncClient, provider_key: str, kind: str, provider_object_id: str
) -> None:
    """Ask, in the caller's transaction, for this object to be read (once: a pending ask for
    the same object stays the one)."""
    _Asked.count += 1
    task = ProviderRead(
        id=uuid.uuid4(),
        provider_key=provider_key,
        kind=kind,
        provider_object_id=provider_object_id,
        status="pending",
        due_at=utcnow(),
        attempts=0,
    )
    await records.insert_later_unless_exists(conn, task, KEY)
    wake_after_commit(conn)  # the runner here looks once the ask is committed


def _db(name: str, value: Any) -> Any:
    return ProviderRead._meta.fields_map[name].to_db_value(value, ProviderRead)


async def claim_due(
    owner: str, lease_seconds: float, limit: int, now: datetime | None = None
) -> list[ClaimedRead]:
    """Lease up to `limit` due tasks, the longest due first."""
    now = now or utcnow()
    expires = _db("due_at", now + timedelta(seconds=lease_seconds))
    conn = connections.get("default")
    at = _db("due_at", now)
    rows = await conn.execute_query_dict(
        queries.CLAIM_READS.of(conn), [owner, expires, expires, at, at, limit]
    )
    return [
        ClaimedRead(
            id=row["id"] if isinstance(row["id"], uuid.UUID) else uuid.UUID(str(row["id"])),
            provider_key=row["provider_key"],
            kind=row["kind"],
            provider_object_id=row["provider_object_id"],
            attempts=int(row["attempts"]),
        )
        for row in rows
    ]


async def finish(
    task: ClaimedRead,
    owner: str,
    *,
    status: str,
    due_at: datetime,
    error: str | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> bool:
    """Leave the lease with the task's next state (`done`, `failed`, or `pending` again at
    `due_at`); False when the lease was taken over meanwhile (nothing is written then)."""
    conn = conn or connections.get("default")
    values = [
        status,
        _db("due_at", due_at),
        error[:ERROR_LIMIT] if error else None,
        _db("updated_at", utcnow()),
        _db("id", task.id),
        owner,
    ]
    changed, _ = await conn.execute_query(for_dialect(conn, queries.FINISH_READ), values)
    return bool(changed)


async def release(owner: str, ids: Sequence[uuid.UUID]) -> None:
    """Give back leases not worked on (shutdown): due again at once, for any runner.

    The claim counted an attempt for each; it is given back too.
    """
    if not ids:
        return
    await ProviderRead.filter(id__in=list(ids), lease_owner=owner, status="pending").update(
        lease_owner=None, lease_expires_at=None, due_at=utcnow(), attempts=F("attempts") - 1
    )
