"""What an applier needs: the transaction, the provider key, the event's time and identity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tortoise.backends.base.client import BaseDBAsyncClient

from core.billing.plan_cache import CHANNEL as PLAN_CHANNEL
from core.delivery.outbox import record_event
from core.metrics import NORMALIZED_EVENTS
from core.models import NormalizedEvent

IdKind = Literal["customer", "subscription", "payment", "checkout_session"]
"""The kinds of provider ids whose becoming known can place a deferred event."""


class TenantUnknown(Exception):
    """The fact names no tenant we know yet; the provider event is kept and applied later.

    It names the provider ids whose becoming known would place it (`waits`): the event is
    stored with them (`core.ingest.deferred`) and replayed when one of them is known.
    """

    def __init__(
        self,
        message: str = "",
        *,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        payment_id: str | None = None,
        checkout_session_id: str | None = None,
    ) -> None:
        named: dict[IdKind, str | None] = {
            "customer": customer_id,
            "subscription": subscription_id,
            "payment": payment_id,
            "checkout_session": checkout_session_id,
        }
        self.waits: dict[IdKind, str] = {kind: value for kind, value in named.items() if value}
        super().__init__(message or f"tenant unknown; waiting for {self.waits or 'nothing'}")


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
    """Whether a customer, subscription, purchase or checkout became known: events kept
    waiting for their tenant may now apply (`core.ingest.deferred`)."""
    known: dict[IdKind, set[str]] = field(default_factory=dict)
    """Which provider ids became known in this transaction (`made_known`): after the commit,
    only the deferred events waiting for these are replayed."""
    touched: set[str] = field(default_factory=set)
    """Tenants whose records changed: their cached plan status must go (`core.billing.plan_cache`)."""
    announced: set[str] = field(default_factory=set)
    """Tenants whose plan-status announcement already went out with a normalized event's
    statement; `core.billing.plan_cache.announce` tells the others at the end."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """What the facts did to their records, as counts of `record.outcome` (outcome: created,
    updated, unchanged, or stale: older than the record): a backfill reports them."""

    def made_known(self, kind: IdKind, provider_id: str | None) -> None:
        """Note that a record with this provider id now exists (a customer remembered, a
        subscription, purchase or checkout session created)."""
        if provider_id:
            self.known.setdefault(kind, set()).add(provider_id)
            self.identified = True

    def count(self, record: str, outcome: str) -> None:
        """Note what one fact did to one record (`subscription`, `purchase`)."""
        self.outcomes[f"{record}.{outcome}"] += 1

    async def emit(self, event_type: str, tenant: Tenant, data: dict[str, Any]) -> None:
        """Write one normalized event (and its delivery) in this transaction."""
        self.touched.add(tenant.consumer_tenant_id)
        if not self.emit_events:
            return
        first = tenant.consumer_tenant_id not in self.announced
        self.announced.add(tenant.consumer_tenant_id)
        event = await record_event(
            event_type,
            provider_key=self.provider_key,
            provider_event_id=self.provider_event_id,
            consumer_key=tenant.consumer_key,
            consumer_tenant_id=tenant.consumer_tenant_id,
            occurred_at=self.occurred_at,
            data=data,
            using_db=self.conn,
            also_notify=PLAN_CHANNEL if first else None,
        )
        self.emitted.append(event)
        NORMALIZED_EVENTS.labels(event_type).inc()
