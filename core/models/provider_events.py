"""Every verified provider webhook, stored once (unique per provider key and event id)."""

from __future__ import annotations

from typing import Any

from pypika_tortoise.terms import Term
from tortoise import fields
from tortoise.expressions import Expression
from tortoise.indexes import Index, PartialIndex
from tortoise.models import Model

WAIT_KINDS = ("customer", "subscription", "payment", "checkout_session")


class FilteredIndex(Index):
    """An index over the rows a WHERE clause selects (SQLite and PostgreSQL both have them),
    for predicates that `PartialIndex`'s equality-only `condition` cannot say.

    Migrations import it from here: keep it here.
    """

    def __init__(
        self,
        *expressions: Term | Expression,
        fields: tuple[str, ...] | list[str] | None = None,
        name: str | None = None,
        where: str = "",
    ) -> None:
        super().__init__(*expressions, fields=fields, name=name)
        self.where = where
        self.extra = f" WHERE {where}" if where else ""

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        path, args, kwargs = super().deconstruct()
        if self.where:
            kwargs["where"] = self.where
        return path, args, kwargs


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
    # known may place it (`core.ingest.deferred`). Null on events that were never deferred.
    waits_customer_id = fields.CharField(max_length=255, null=True)
    waits_subscription_id = fields.CharField(max_length=255, null=True)
    waits_payment_id = fields.CharField(max_length=255, null=True)
    waits_checkout_session_id = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "provider_events"
        unique_together = (("provider_key", "provider_event_id"),)
        indexes = (
            Index(fields=("status", "received_at"), name="provider_events_status_idx"),
            # The operator's list (`core.ingest.stored`), newest first: all of them, or since a
            # moment, or of one provider key (deployments have a few keys), and of one type.
            Index(fields=("received_at", "id"), name="provider_events_received_idx"),
            Index(fields=("type", "received_at", "id"), name="provider_events_type_idx"),
            # The deferred events alone, oldest first: the TTL and the safety net walk it.
            PartialIndex(
                fields=("received_at", "id"),
                name="provider_events_deferred_idx",
                condition={"status": "deferred"},
            ),
            # One per kind of id, over the deferred events waiting for one of that kind only:
            # the id leads, and an index whose predicate the query does not imply (another
            # kind's) cannot be chosen, whatever the statistics say.
            *(
                FilteredIndex(
                    fields=(f"waits_{kind}_id", "provider_key"),
                    name=f"provider_events_waits_{kind}_idx",
                    where=f"status = 'deferred' AND waits_{kind}_id IS NOT NULL",
                )
                for kind in WAIT_KINDS
            ),
        )
