"""Every verified provider webhook, stored once (unique per provider key and event id)."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class ProviderEvent(Model):
    """A provider's event as received: the raw body, and what applying it did."""

    id = fields.UUIDField(primary_key=True)
    provider_key = fields.CharField(max_length=40)
    provider_event_id = fields.CharField(max_length=255)
    type = fields.CharField(max_length=120)
    api_version = fields.CharField(max_length=40, null=True)
    event_created_at = fields.DatetimeField()
    payload = fields.TextField()
    status = fields.CharField(max_length=16)
    """processed | ignored (a type we do not handle) | deferred (its tenant is not known yet)"""
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "provider_events"
        unique_together = (("provider_key", "provider_event_id"),)
        indexes = (Index(fields=("status", "received_at"), name="provider_events_status_idx"),)
