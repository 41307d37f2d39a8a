"""Event deliveries: the list filters and the answers (a delivery, with its attempts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from web.schemas.common import ApiModel, IsoMoment, ListQuery, RequestBody

DeliveryStatus = Literal["pending", "in_flight", "delivered", "failed"]


class DeliveryQuery(ListQuery):
    status: DeliveryStatus | None = None
    consumer_key: str | None = Field(default=None, max_length=64)
    event_type: str | None = Field(default=None, max_length=64)


class DeliveryOut(ApiModel):
    id: str
    event_id: str
    consumer_key: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    """Attempts in the current retry schedule (a retry of a failed delivery starts anew)."""
    next_attempt_at: str | None
    lease_expires_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    failed_at: str | None
    created_at: str
    updated_at: str


class AttemptOut(ApiModel):
    number: int
    started_at: str
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None


class DeliveryDetailOut(DeliveryOut):
    event: dict[str, Any]
    attempts: list[AttemptOut]


class DeliveryList(ApiModel):
    data: list[DeliveryOut]
    next_cursor: str | None


class DeliveryRetryBody(RequestBody):
    """The bulk retry: which deliveries (`failed`, or `pending` ones waiting for a later
    attempt), optionally of one consumer and event type, created at or after `since`."""

    status: Literal["failed", "pending"]
    consumer_key: str | None = Field(default=None, max_length=64)
    event_type: str | None = Field(default=None, max_length=64)
    since: IsoMoment | None = None


class DeliveryRetryCount(ApiModel):
    count: int
    """How many deliveries were re-queued."""
