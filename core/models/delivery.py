"""The outbox: normalized events, one delivery per consumer that should get each, and attempts.

Events and deliveries are written in the same transaction as the record change that
caused them, so an event can neither be lost nor sent for a change that rolled back.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

PENDING = "pending"
"""Waiting for its attempt (`next_attempt_at`), the first or a retry."""
IN_FLIGHT = "in_flight"
"""Leased by a dispatcher (`lease_owner` until `lease_expires_at`) and being sent."""
DELIVERED = "delivered"
"""A consumer answered 2xx; final."""
FAILED = "failed"
"""Out of retries (or refused for good); final until an operator retries it."""
STATUSES = (PENDING, IN_FLIGHT, DELIVERED, FAILED)
"""Every status of an `EventDelivery`, in the order one moves through them."""


class NormalizedEvent(Model):
    """A provider-neutral event (`subscription.updated`, ...) for one consumer's tenant."""

    id = fields.UUIDField(primary_key=True)
    type = fields.CharField(max_length=64)
    occurred_at = fields.DatetimeField()
    provider_key = fields.CharField(max_length=40)
    provider_event_id = fields.CharField(max_length=255, null=True)
    consumer_key = fields.CharField(max_length=64)
    consumer_tenant_id = fields.CharField(max_length=255)
    data: dict[str, Any] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "normalized_events"
        indexes = (
            Index(
                fields=("consumer_key", "consumer_tenant_id"), name="normalized_events_tenant_idx"
            ),
            Index(fields=("created_at", "id"), name="normalized_events_created_idx"),
        )


class EventDelivery(Model):
    """One normalized event on its way to one consumer, with its retry state and lease."""

    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[NormalizedEvent] = fields.ForeignKeyField(
        "models.NormalizedEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    consumer_key = fields.CharField(max_length=64)
    event_type = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16)
    """pending | in_flight | delivered | failed"""
    attempt_count = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_owner = fields.CharField(max_length=80, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    attempts: fields.ReverseRelation[DeliveryAttempt]

    class Meta:
        table = "event_deliveries"
        unique_together = (("event", "consumer_key"),)
        indexes = (
            Index(fields=("status", "next_attempt_at"), name="event_deliveries_due_idx"),
            Index(fields=("created_at", "id"), name="event_deliveries_created_idx"),
            Index(fields=("consumer_key", "created_at"), name="event_deliveries_consumer_idx"),
            Index(fields=("event_type", "created_at"), name="event_deliveries_type_idx"),
            # The /metrics gauge counts deliveries by status and consumer from this index alone.
            Index(fields=("status", "consumer_key"), name="event_deliveries_status_consumer_idx"),
            # ... and the age of the oldest pending one, one index entry whatever the history.
            Index(fields=("status", "created_at"), name="event_deliveries_status_created_idx"),
        )


class DeliveryAttempt(Model):
    """One try at sending a delivery: what the consumer answered, or why nothing came back."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[EventDelivery] = fields.ForeignKeyField(
        "models.EventDelivery", related_name="attempts", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    started_at = fields.DatetimeField()
    duration_ms = fields.IntField()
    status_code = fields.IntField(null=True)
    error = fields.TextField(null=True)
    response_body = fields.TextField(null=True)

    class Meta:
        table = "delivery_attempts"
        unique_together = (("delivery", "number"),)
