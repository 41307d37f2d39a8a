"""The one path from provider facts to records: `apply_facts`, and a webhook body's parse.

Webhooks (`core.ingest.intake`), deferred replays (`core.ingest.deferred`), reads from the
provider (`core.ingest.observed`) and the FunnelAI import all apply facts here, inside a unit
of work: each fact by its applier (`core.ingest.appliers`), records moved only forward, one
normalized event per real change, and every tenant touched announced to plan-status caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from core.billing.plan_cache import announce
from core.errors import ApiError
from core.facts import (
    CheckoutSessionFact,
    DisputeFact,
    Fact,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
    WebhookEvent,
)
from core.ingest.appliers.checkout import apply_checkout_session
from core.ingest.appliers.context import ApplyContext
from core.ingest.appliers.disputes import apply_dispute
from core.ingest.appliers.invoices import apply_invoice
from core.ingest.appliers.purchases import apply_payment, apply_refund
from core.ingest.appliers.subscriptions import apply_subscription
from core.plugins import Registry
from core.store.unit_of_work import unit_of_work

# Subscriptions first, so a completed checkout in the same batch links to its subscription.
_ORDER = {
    SubscriptionFact: 0,
    CheckoutSessionFact: 1,
    PaymentFact: 2,
    InvoiceFact: 3,
    RefundFact: 4,
    DisputeFact: 5,
}


async def apply_facts(
    provider_key: str,
    facts: Sequence[Fact],
    *,
    occurred_at: datetime,
    provider_event_id: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
    emit_events: bool = True,
) -> ApplyContext:
    """Apply facts in one unit of work (the caller's, if given); raise `TenantUnknown` to defer.

    The caller replays the deferred events waiting for what became known (`ctx.known`;
    `core.ingest.deferred.replay_after_commit`). `emit_events=False` changes the records without writing normalized
    events (a backfill that must not notify consumers).
    """
    if using_db is None:
        async with unit_of_work() as conn:
            return await apply_facts(
                provider_key,
                facts,
                occurred_at=occurred_at,
                provider_event_id=provider_event_id,
                using_db=conn,
                emit_events=emit_events,
            )
    ctx = ApplyContext(using_db, provider_key, occurred_at, provider_event_id, emit_events)
    for fact in sorted(facts, key=lambda f: _ORDER[type(f)]):
        if isinstance(fact, SubscriptionFact):
            await apply_subscription(ctx, fact)
        elif isinstance(fact, CheckoutSessionFact):
            await apply_checkout_session(ctx, fact)
        elif isinstance(fact, PaymentFact):
            await apply_payment(ctx, fact)
        elif isinstance(fact, InvoiceFact):
            await apply_invoice(ctx, fact)
        elif isinstance(fact, RefundFact):
            await apply_refund(ctx, fact)
        else:
            await apply_dispute(ctx, fact)
    await announce(using_db, ctx.touched, notified=ctx.announced)
    return ctx


def parse_webhook_body(registry: Registry, provider_key: str, body: bytes) -> WebhookEvent:
    """The provider plugin's parse; 400 `webhook_payload_invalid` for a body it refuses."""
    try:
        return registry.provider(provider_key).parse_webhook(body)
    except ApiError:
        raise
    except Exception as error:
        raise ApiError(
            f"webhook body is not a valid event: {error}", code="webhook_payload_invalid"
        ) from None
