"""Dispute facts applied to `Dispute` records, and to the purchase they contest.

A dispute only moves forward: needs_response -> under_review -> won, lost or
warning_closed. It belongs to the disputed payment's purchase, else to the subscription
whose invoice that payment paid; a dispute of a payment we do not know waits for it, like a
refund. Its first sight emits `dispute.opened`, its closing `dispute.closed`; a purchase
keeps its dispute's status, and a lost one no longer counts in plan status.
"""

from __future__ import annotations

from typing import Any

from core import serializers
from core.facts import DISPUTE_CLOSED, DisputeFact
from core.ingest.appliers import purchases
from core.ingest.appliers.context import ApplyContext, Tenant, TenantUnknown
from core.models import Dispute, Invoice, Purchase, Subscription
from core.store import records

RANK = {"needs_response": 0, "under_review": 1, "won": 2, "lost": 2, "warning_closed": 2}
EARLY_WARNINGS = {
    "warning_needs_response": "needs_response",
    "warning_under_review": "under_review",
}


def status_of(fact: DisputeFact) -> str:
    """The contract's status for a provider's (its early warnings count as the first two)."""
    status = EARLY_WARNINGS.get(fact.status, fact.status)
    return status if status in RANK else "needs_response"


async def find(ctx: ApplyContext, provider_dispute_id: str) -> Dispute | None:
    return await records.find(
        ctx.conn,
        Dispute,
        for_update=True,
        provider_key=ctx.provider_key,
        provider_dispute_id=provider_dispute_id,
    )


async def emit(ctx: ApplyContext, event_type: str, record: Dispute, code: str) -> None:
    data: dict[str, Any] = {"dispute": serializers.dispute(record), "pricingItemCode": code}
    await ctx.emit(event_type, Tenant(record.consumer_key, record.consumer_tenant_id), data)


async def _owner(
    ctx: ApplyContext, fact: DisputeFact
) -> tuple[Purchase | None, Subscription | None]:
    """The disputed payment's purchase, or the subscription whose invoice it paid."""
    if not fact.provider_payment_id:
        return None, None
    purchase = await purchases.find(ctx, fact.provider_payment_id)
    if purchase is not None:
        return purchase, None
    invoice = await records.find(
        ctx.conn,
        Invoice,
        provider_payment_id=fact.provider_payment_id,
        provider_key=ctx.provider_key,
    )
    if invoice is None or invoice.subscription_id is None:
        return None, None
    subscription = await records.find(ctx.conn, Subscription, id=invoice.subscription_id)
    return None, subscription


async def _item_code(ctx: ApplyContext, record: Dispute) -> str:
    if record.purchase_id is not None:
        purchase = await records.find(ctx.conn, Purchase, id=record.purchase_id)
        return purchase.pricing_item_code if purchase is not None else ""
    if record.subscription_id is not None:
        subscription = await records.find(ctx.conn, Subscription, id=record.subscription_id)
        return subscription.pricing_item_code if subscription is not None else ""
    return ""


async def apply_dispute(ctx: ApplyContext, fact: DisputeFact) -> None:
    """Create or move a dispute; mark its purchase; emit opened and closed once each."""
    status = status_of(fact)
    record = await find(ctx, fact.provider_dispute_id)
    if record is None:
        purchase, subscription = await _owner(ctx, fact)
        owner = purchase or subscription
        if owner is None:
            raise TenantUnknown(payment_id=fact.provider_payment_id)
        record = await records.create(
            ctx.conn,
            Dispute,
            provider_key=ctx.provider_key,
            provider_dispute_id=fact.provider_dispute_id,
            provider_payment_id=fact.provider_payment_id,
            purchase_id=purchase.id if purchase is not None else None,
            subscription_id=subscription.id if subscription is not None else None,
            consumer_key=owner.consumer_key,
            consumer_tenant_id=owner.consumer_tenant_id,
            amount=fact.amount,
            currency=fact.currency.lower(),
            reason=fact.reason,
            status=status,
            provider_updated_at=ctx.occurred_at,
        )
        ctx.count("dispute", "created")
        await _mark_purchase(ctx, purchase, status)
        await emit(ctx, "dispute.opened", record, owner.pricing_item_code)
        if status in DISPUTE_CLOSED:
            await emit(ctx, "dispute.closed", record, owner.pricing_item_code)
        return
    if RANK[status] <= RANK[record.status]:
        ctx.count("dispute", "unchanged")
        return
    ctx.count("dispute", "updated")
    record.status = status
    record.reason = fact.reason or record.reason
    record.provider_updated_at = max(record.provider_updated_at or ctx.occurred_at, ctx.occurred_at)
    await records.save_fields(
        ctx.conn, record, ["status", "reason", "provider_updated_at", "updated_at"]
    )
    purchase = (
        await purchases.find(ctx, record.provider_payment_id)
        if record.purchase_id is not None and record.provider_payment_id
        else None
    )
    await _mark_purchase(ctx, purchase, status)
    if status in DISPUTE_CLOSED:
        await emit(ctx, "dispute.closed", record, await _item_code(ctx, record))


async def _mark_purchase(ctx: ApplyContext, purchase: Purchase | None, status: str) -> None:
    """The purchase keeps its dispute's status; plan status leaves out a lost one."""
    if purchase is None or purchase.dispute_status == status:
        return
    purchase.dispute_status = status
    await records.save_fields(ctx.conn, purchase, ["dispute_status", "updated_at"])
    ctx.touched.add(purchase.consumer_tenant_id)
