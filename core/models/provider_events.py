"""Every verified provider webhook, stored once (unique per provider key and event id)."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index, PartialIndex
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
    """processed | ignored (a type we do not handle) | deferred (its tenant is not known yet)
    | unmatched (deferred longer than `PAYMENTS_DEFERRED_TTL_HOURS`: kept, never retried)"""
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)
    # What a deferred (or unmatched) event waits for: any one of these provider ids becoming
    # known may place it (`core.deferred`). Null on events that were never deferred.
    waits_customer_id = fields.CharField(max_length=255, null=True)
    waits_subscription_id = fields.CharField(max_length=255, null=True)
    waits_payment_id = fields.CharField(max_length=255, null=True)
    waits_checkout_session_id = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "provider_events"
        unique_together = (("provider_key", "provider_event_id"),)
        indexes = (
            Index(fields=("status", "received_at"), name="provider_events_status_idx"),
            # The deferred events alone, oldest first: the TTL and the safety net walk it.
            PartialIndex(
                fields=("received_at", "id"),
                name="provider_events_deferred_idx",
                condition={"status": "deferred"},
            ),
            *(
                PartialIndex(
                    fields=("provider_key", f"waits_{kind}_id"),
                    name=f"provider_events_waits_{kind}_idx",
                    condition={"status": "deferred"},
                )
                for kind in ("customer", "subscription", "payment", "checkout_session")
            ),
        )
