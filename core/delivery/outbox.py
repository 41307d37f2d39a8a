"""Writing the outbox: a normalized event and the deliveries it needs, in the caller's transaction.

Call `record_event` inside the same transaction that changed the record the event is
about, so the change and its event commit together or not at all. The dispatcher
(`core.delivery.dispatcher`) sends the deliveries later, at least once.

Waking the dispatcher: on PostgreSQL `record_event` issues `NOTIFY` in the caller's
transaction (delivered at commit), which wakes dispatchers in every process; it also has
the caller's unit of work (`core.store.unit_of_work`) call `wake_local()` once the commit
succeeded, which wakes this process's dispatcher at once on any database. Polling remains
the fallback for both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.delivery import queries
from core.events import EVENT_TYPES
from core.models import EventDelivery, NormalizedEvent
from core.models.delivery import PENDING
from core.store import records, sql
from core.store.dialect import is_postgres
from core.store.unit_of_work import after_commit
from core.timeutil import isoformat, utcnow

NOTIFY_CHANNEL = "payments_event_deliveries"
"""The PostgreSQL channel dispatchers LISTEN on; the payload is the consumer key."""

_local_wakers: set[Callable[[], None]] = set()


def wake_local() -> None:
    """Wake this process's dispatchers and provider-read runners now."""
    for wake in list(_local_wakers):
        wake()


def wake_after_commit(conn: BaseDBAsyncClient) -> None:
    """Have `wake_local()` run once `conn`'s unit of work committed (rows to claim are there)."""
    after_commit(conn, "outbox.wake_local", wake_local)


def on_local_wake(callback: Callable[[], None]) -> Callable[[], None]:
    """Have `callback` run on every `wake_local()`; returns the function that stops it."""
    _local_wakers.add(callback)
    return lambda: _local_wakers.discard(callback)


async def notify(consumer_key: str, using_db: BaseDBAsyncClient | None = None) -> None:
    """On PostgreSQL, `NOTIFY` dispatchers in every process (at commit, if in a transaction)."""
    connection = using_db or EventDelivery._meta.db
    if not is_postgres(connection):
        return
    await connection.execute_query(queries.NOTIFY, [NOTIFY_CHANNEL, consumer_key])


def event_body(event: NormalizedEvent) -> dict[str, Any]:
    """The JSON a consumer receives (the contract's "Events out" shape)."""
    return {
        "id": str(event.id),
        "type": event.type,
        "occurredAt": isoformat(event.occurred_at),
        "providerKey": event.provider_key,
        "providerEventId": event.provider_event_id,
        "consumerKey": event.consumer_key,
        "consumerTenantId": event.consumer_tenant_id,
        "data": event.data,
    }


async def record_event(
    event_type: str,
    *,
    provider_key: str,
    provider_event_id: str | None,
    consumer_key: str,
    consumer_tenant_id: str,
    occurred_at: datetime,
    data: dict[str, Any],
    using_db: BaseDBAsyncClient | None = None,
    also_notify: str | None = None,
) -> NormalizedEvent:
    """Store one normalized event and one pending delivery to the consumer it names.

    The delivery is written even when no consumer of that key is configured yet: it
    waits, and is sent once the consumer is configured, rather than being lost.
    `also_notify` names a channel told the event's tenant id at commit, in the same statement
    on PostgreSQL (the plan-status announcement, `core.billing.plan_cache`); elsewhere it is ignored.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown normalized event type {event_type!r}")
    now = utcnow()
    event = NormalizedEvent(
        id=uuid.uuid4(),
        type=event_type,
        occurred_at=occurred_at,
        provider_key=provider_key,
        provider_event_id=provider_event_id,
        consumer_key=consumer_key,
        consumer_tenant_id=consumer_tenant_id,
        data=data,
        created_at=now,
    )
    connection = using_db or NormalizedEvent._meta.db
    wake_after_commit(connection)
    delivery = EventDelivery(
        id=uuid.uuid4(),
        event_id=event.id,
        consumer_key=consumer_key,
        event_type=event_type,
        status=PENDING,
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    # Held back (`core.store.sql.later`): with the transaction's next statement or its commit,
    # as one statement with whatever else was held back on PostgreSQL. The delivery's foreign
    # key to the event is checked at the end of that statement, when both rows exist.
    await records.insert(connection, event)
    await records.insert(connection, delivery)
    await sql.notify_later(connection, NOTIFY_CHANNEL, consumer_key)
    if also_notify is not None:
        await sql.notify_later(connection, also_notify, consumer_tenant_id)
    return event
