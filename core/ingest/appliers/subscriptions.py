"""Subscription facts and invoice facts applied to `Subscription` records.

Invoices reach a subscription through `core.ingest.appliers.invoices` (`bill`).

Ordering rule: a subscription fact carries the provider's event time; the record keeps
the newest time applied (`provider_updated_at`). An older fact is stale and changes
nothing. Stripe's clock has one-second resolution, so two facts may share a time: then
the later arrival wins, except that a subscription that has ended (canceled,
incomplete_expired) is never revived by a same-second fact. Invoices only ever move the
period forward, so their order does not matter.

A subscription also keeps when it became past_due (`past_due_since`): the time of the fact
that moved it there, kept while it stays past_due, cleared when it leaves. Plan status
counts the grace period from it (`core.billing.plan_status`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core import serializers
from core.facts import PRICING_ITEM_CODE, InvoiceFact, SubscriptionFact
from core.ingest.appliers import links
from core.ingest.appliers.context import ApplyContext, Tenant, TenantUnknown
from core.ingest.appliers.tenancy import (
    item_code_of_price,
    remember_customer,
    resolve_item_code,
    resolve_tenant,
)
from core.models import Subscription
from core.store import records

ENDED = frozenset({"canceled", "incomplete_expired"})
STATE_FIELDS = (
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "trial_end",
    "ended_at",
    "provider_customer_id",
)


def _tenant(record: Subscription) -> Tenant:
    return Tenant(record.consumer_key, record.consumer_tenant_id)


async def find(ctx: ApplyContext, provider_subscription_id: str) -> Subscription | None:
    return await records.find(
        ctx.conn,
        Subscription,
        for_update=True,
        provider_key=ctx.provider_key,
        provider_subscription_id=provider_subscription_id,
    )


async def emit(ctx: ApplyContext, event_type: str, record: Subscription) -> None:
    data: dict[str, Any] = {
        "subscription": serializers.subscription(record),
        "pricingItemCode": record.pricing_item_code,
    }
    await ctx.emit(event_type, _tenant(record), data)


def _past_due_since(ctx: ApplyContext, record: Subscription | None, status: str) -> datetime | None:
    """The moment a subscription in `status` became past_due, if it is past_due."""
    if status != "past_due":
        return None
    if record is not None and record.status == "past_due" and record.past_due_since is not None:
        return record.past_due_since
    return ctx.occurred_at


def _is_stale(ctx: ApplyContext, record: Subscription, fact: SubscriptionFact) -> bool:
    seen = record.provider_updated_at
    if seen is None:
        return False
    if ctx.occurred_at < seen:
        return True
    return ctx.occurred_at == seen and record.status in ENDED and fact.status not in ENDED


async def apply_subscription(ctx: ApplyContext, fact: SubscriptionFact) -> None:
    """Create or move a subscription to the state the fact reports, if the fact is newer."""
    values = {name: getattr(fact, name) for name in STATE_FIELDS}
    record = await find(ctx, fact.provider_subscription_id)
    if record is None:
        tenant = await resolve_tenant(ctx, fact.metadata, fact.provider_customer_id)
        if tenant is None:
            raise TenantUnknown(
                subscription_id=fact.provider_subscription_id,
                customer_id=fact.provider_customer_id,
            )
        code = await resolve_item_code(ctx, fact.metadata, fact.provider_price_id)
        record = await records.create(
            ctx.conn,
            Subscription,
            provider_key=ctx.provider_key,
            provider_subscription_id=fact.provider_subscription_id,
            consumer_key=tenant.consumer_key,
            consumer_tenant_id=tenant.consumer_tenant_id,
            pricing_item_code=code or "",
            provider_updated_at=ctx.occurred_at,
            past_due_since=_past_due_since(ctx, None, fact.status),
            **values,
        )
        ctx.made_known("subscription", fact.provider_subscription_id)
        await remember_customer(ctx, tenant, fact.provider_customer_id, hold_back=True)
        await links.subscription_and_checkout(ctx, record)
        ctx.count("subscription", "created")
        await emit(
            ctx,
            "subscription.canceled" if fact.status == "canceled" else "subscription.created",
            record,
        )
        return
    if _is_stale(ctx, record, fact):
        ctx.count("subscription", "stale")
        return
    plan = await item_code_of_price(ctx, fact.provider_price_id) or fact.metadata.get(
        PRICING_ITEM_CODE
    )
    if plan:
        # A plan change (ours, which also moves the metadata, or one at the provider to a
        # price we know) moves the record.
        values["pricing_item_code"] = plan
    changed = [name for name, value in values.items() if getattr(record, name) != value]
    record.provider_updated_at = ctx.occurred_at
    since = _past_due_since(ctx, record, fact.status)
    moments = ["provider_updated_at"]
    if since != record.past_due_since:  # it moves with the status, saved with what changed
        record.past_due_since = since
        moments.append("past_due_since")
    if not changed:
        await records.save_fields(ctx.conn, record, moments)
        ctx.count("subscription", "unchanged")
        return
    ctx.count("subscription", "updated")
    was = record.status
    for name in changed:
        setattr(record, name, values[name])
    await records.save_fields(ctx.conn, record, [*changed, *moments, "updated_at"])
    became_canceled = record.status == "canceled" and was != "canceled"
    await emit(ctx, "subscription.canceled" if became_canceled else "subscription.updated", record)


async def bill(ctx: ApplyContext, record: Subscription, fact: InvoiceFact) -> None:
    """A paid invoice renews the period (`subscription.updated`); a failed payment tells the
    product (`subscription.payment_failed`); any other invoice change does neither."""
    if fact.paid is None:
        return
    if not fact.paid:
        await emit(ctx, "subscription.payment_failed", record)
        return
    moves_forward = fact.period_end is not None and (
        record.current_period_end is None or fact.period_end > record.current_period_end
    )
    if not moves_forward:
        return
    record.current_period_end = fact.period_end
    if fact.period_start is not None:
        record.current_period_start = fact.period_start
    # The renewal is the subscription's newest state now: a subscription event older than it,
    # arriving late, is stale and cannot take the period back.
    seen = record.provider_updated_at
    record.provider_updated_at = ctx.occurred_at if seen is None else max(seen, ctx.occurred_at)
    await records.save_fields(
        ctx.conn,
        record,
        ["current_period_end", "current_period_start", "provider_updated_at", "updated_at"],
    )
    await emit(ctx, "subscription.updated", record)
