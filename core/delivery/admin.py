"""The operator's view of deliveries: list with filters, one with its attempts, retry now.

Serialization to the API's camelCase shapes lives here too, next to the only service
that produces them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.delivery.claims import requeue, requeue_matching
from core.delivery.outbox import event_body
from core.errors import NotFound
from core.models import DeliveryAttempt, EventDelivery, NormalizedEvent
from core.store.pagination import DEFAULT_LIMIT, Page, paginate
from core.timeutil import isoformat


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: EventDelivery
    event: NormalizedEvent
    attempts: list[DeliveryAttempt]


def _not_found(ref: str) -> NotFound:
    return NotFound(f"event delivery '{ref}' not found", code="event_delivery_not_found")


def _parse_id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        raise _not_found(ref) from None


async def list_deliveries(
    *,
    status: str | None = None,
    consumer_key: str | None = None,
    event_type: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[EventDelivery]:
    """Deliveries newest first, optionally narrowed by status, consumer and event type."""
    query = EventDelivery.all()
    if status is not None:
        query = query.filter(status=status)
    if consumer_key is not None:
        query = query.filter(consumer_key=consumer_key)
    if event_type is not None:
        query = query.filter(event_type=event_type)
    return await paginate(query, limit=limit, cursor=cursor)


async def get_delivery(ref: str) -> DeliveryDetail:
    """One delivery with its event and every attempt, oldest attempt first; 404 if unknown."""
    delivery = await EventDelivery.get_or_none(id=_parse_id(ref))
    if delivery is None:
        raise _not_found(ref)
    event = await NormalizedEvent.get(id=delivery.event_id)  # type: ignore[attr-defined]
    attempts = await DeliveryAttempt.filter(delivery_id=delivery.id).order_by("number")
    return DeliveryDetail(delivery, event, list(attempts))


async def retry_now(ref: str) -> EventDelivery:
    """Re-queue a delivery for an attempt now (`core.delivery.claims.requeue`); 404 unknown."""
    delivery = await requeue(_parse_id(ref), ref)
    if delivery is None:
        raise _not_found(ref)
    return delivery


async def retry_matching(
    status: str,
    *,
    consumer_key: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
) -> int:
    """Re-queue every matching delivery not in flight (`core.delivery.claims.requeue_matching`);
    how many."""
    return await requeue_matching(
        status, consumer_key=consumer_key, event_type=event_type, since=since
    )


def delivery_body(delivery: EventDelivery) -> dict[str, Any]:
    """A delivery as the API shows it."""
    return {
        "id": str(delivery.id),
        "eventId": str(delivery.event_id),  # type: ignore[attr-defined]
        "consumerKey": delivery.consumer_key,
        "eventType": delivery.event_type,
        "status": delivery.status,
        "attemptCount": delivery.attempt_count,
        "nextAttemptAt": isoformat(delivery.next_attempt_at),
        "leaseExpiresAt": isoformat(delivery.lease_expires_at),
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "deliveredAt": isoformat(delivery.delivered_at),
        "failedAt": isoformat(delivery.failed_at),
        "createdAt": isoformat(delivery.created_at),
        "updatedAt": isoformat(delivery.updated_at),
    }


def attempt_body(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "startedAt": isoformat(attempt.started_at),
        "durationMs": attempt.duration_ms,
        "statusCode": attempt.status_code,
        "error": attempt.error,
        "responseBody": attempt.response_body,
    }


def delivery_detail_body(detail: DeliveryDetail) -> dict[str, Any]:
    """A delivery with the event it carries and every attempt."""
    return {
        **delivery_body(detail.delivery),
        "event": event_body(detail.event),
        "attempts": [attempt_body(a) for a in detail.attempts],
    }
