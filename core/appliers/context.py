"""What an applier needs: the transaction, the provider key, the event's time and identity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.metrics import NORMALIZED_EVENTS
from core.models import NormalizedEvent
from core.outbox import record_event


class TenantUnknown(Exception):
    """The fact names no tenant we know yet; the provider event is kept and applied later."""


@dataclass(frozen=True)
class Tenant:
    consumer_key: str
    consumer_tenant_id: str


@dataclass
class ApplyContext:
    conn: BaseDBAsyncClient
    provider_key: str
    occurred_at: datetime
    """The provider's own time for the event (Stripe's `created`): the ordering clock."""
    provider_event_id: str | None
    emit_events: bool = True
    """False for a backfill that must not notify consumers: records change, no events."""
    emitted: list[NormalizedEvent] = field(default_factory=list)
    identified: bool = False
    """Whether a customer, subscription or purchase became known: events kept waiting for
    their tenant may now apply (`core.ingest.replay_deferred`)."""
    touched: set[str] = field(default_factory=set)
    """Tenants whose records changed: their cached plan status must go (`core.plan_cache`)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """What the facts did to their records, as counts of `record.outcome` (outcome: created,
    updated, unchanged, or stale: older than the record): a backfill reports them."""

    def count(self, record: str, outcome: str) -> None:
        """Note what one fact did to one record (`subscription`, `purchase`)."""
        self.outcomes[f"{record}.{outcome}"] += 1

    async def emit(self, event_type: str, tenant: Tenant, data: dict[str, Any]) -> None:
        """Write one normalized event (and its delivery) in this transaction."""
        self.touched.add(tenant.consumer_tenant_id)
        if not self.emit_events:
            return
        event = await record_event(
            event_type,
            provider_key=self.provider_key,
            provider_event_id=self.provider_event_id,
            consumer_key=tenant.consumer_key,
            consumer_tenant_id=tenant.consumer_tenant_id,
            occurred_at=self.occurred_at,
            data=data,
            using_db=self.conn,
        )
        self.emitted.append(event)
        NORMALIZED_EVENTS.labels(event_type).inc()
