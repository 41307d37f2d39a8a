"""One-time payment facts and refunds applied to `Purchase` records.

A purchase only moves forward: pending -> failed -> paid -> partially_refunded ->
refunded (a failed payment may still succeed on a second try; a paid one never fails
again), and the refunded amount only grows. So late and repeated facts change nothing.
"""

from __future__ import annotations

from typing import Any

from core import serializers
from core.facts import PaymentFact, RefundFact
from core.ingest.appliers import links
from core.ingest.appliers.context import ApplyContext, Tenant, TenantUnknown
from core.ingest.appliers.tenancy import resolve_item_code, resolve_tenant
from core.models import CheckoutSession, Purchase
from core.store import records

RANK = {"pending": 0, "failed": 1, "paid": 2, "partially_refunded": 3, "refunded": 4}
EVENT_FOR = {"paid": "purchase.paid", "failed": "purchase.failed"}


async def find(ctx: ApplyContext, provider_payment_id: str) -> Purchase | None:
    return await records.find(
        ctx.conn,
        Purchase,
        for_update=True,
        provider_key=ctx.provider_key,
        provider_payment_id=provider_payment_id,
    )


async def emit(ctx: ApplyContext, event_type: str, record: Purchase) -> None:
    data: dict[str, Any] = {
        "purchase": serializers.purchase(record),
        "pricingItemCode": record.pricing_item_code,
    }
    await ctx.emit(event_type, Tenant(record.consumer_key, record.consumer_tenant_id), data)


async def _create(
    ctx: ApplyContext, fact: PaymentFact, checkout: CheckoutSession | None = None
) -> Purchase:
    """A purchase on first sight; `checkout` is its session when the caller holds it (and
    links it itself), else the session is looked up and linked here."""
    held = checkout is not None
    if checkout is None:
        checkout = await links.checkout_of_payment(
            ctx, fact.provider_payment_id, fact.provider_checkout_session_id
        )
    if checkout is not None:
        tenant: Tenant | None = Tenant(checkout.consumer_key, checkout.consumer_tenant_id)
        code: str | None = checkout.pricing_item_code
    else:
        tenant = await resolve_tenant(ctx, fact.metadata, fact.provider_customer_id)
        code = await resolve_item_code(ctx, fact.metadata, None)
    if tenant is None:
        raise TenantUnknown(
            payment_id=fact.provider_payment_id,
            checkout_session_id=fact.provider_checkout_session_id,
            customer_id=fact.provider_customer_id,
        )
    amount = (
        fact.amount if fact.amount is not None else (checkout.amount_total if checkout else None)
    )
    currency = fact.currency or (checkout.currency if checkout else None)
    record = await records.create(
        ctx.conn,
        Purchase,
        provider_key=ctx.provider_key,
        provider_payment_id=fact.provider_payment_id,
        provider_checkout_session_id=checkout.provider_checkout_session_id
        if checkout
        else fact.provider_checkout_session_id,
        provider_customer_id=fact.provider_customer_id,
        consumer_key=tenant.consumer_key,
        consumer_tenant_id=tenant.consumer_tenant_id,
        pricing_item_code=code or "",
        amount=amount or 0,
        currency=(currency or "").lower(),
        status="pending",
        provider_updated_at=ctx.occurred_at,
    )
    if checkout is not None and not held:
        await links.purchase_and_checkout(ctx, record, checkout, save_session=True)
    ctx.made_known("payment", fact.provider_payment_id)
    return record


async def ensure(ctx: ApplyContext, fact: PaymentFact, checkout: CheckoutSession) -> Purchase:
    """The purchase of the checkout the caller holds (and links), created pending on first sight."""
    record = await find(ctx, fact.provider_payment_id)
    if record is None:
        record = await _create(ctx, fact, checkout)
    return record


async def apply_payment(ctx: ApplyContext, fact: PaymentFact) -> None:
    """Move a purchase to paid or failed (never back); create it on first sight."""
    record = await find(ctx, fact.provider_payment_id)
    created = record is None
    if record is None:
        record = await _create(ctx, fact)
    moved = await advance(ctx, record, fact)
    ctx.count("purchase", "created" if created else "updated" if moved else "unchanged")


async def advance(ctx: ApplyContext, record: Purchase, fact: PaymentFact) -> bool:
    """Apply the fact's status if it is further along than the record's; emit if it changed.

    True when the purchase moved.
    """
    if RANK.get(fact.status, -1) <= RANK[record.status]:
        return False
    record.status = fact.status
    if fact.status == "paid":
        record.paid_at = record.paid_at or ctx.occurred_at
    if fact.amount is not None and not record.amount:
        record.amount = fact.amount
    if fact.currency and not record.currency:
        record.currency = fact.currency.lower()
    record.provider_updated_at = max(record.provider_updated_at or ctx.occurred_at, ctx.occurred_at)
    await records.save_fields(
        ctx.conn,
        record,
        ["status", "paid_at", "amount", "currency", "provider_updated_at", "updated_at"],
    )
    event_type = EVENT_FOR.get(record.status)
    if event_type:
        await emit(ctx, event_type, record)
    return True


async def apply_refund(ctx: ApplyContext, fact: RefundFact) -> None:
    """Record a (partial) refund; the refunded amount only grows."""
    record = await find(ctx, fact.provider_payment_id)
    if record is None:
        raise TenantUnknown(payment_id=fact.provider_payment_id)
    if fact.amount_refunded <= record.amount_refunded:
        ctx.count("purchase", "unchanged")
        return
    ctx.count("purchase", "updated")
    record.amount_refunded = fact.amount_refunded
    total = record.amount or fact.amount
    record.status = "refunded" if fact.amount_refunded >= total else "partially_refunded"
    if record.status == "refunded" or record.refunded_at is None:
        record.refunded_at = ctx.occurred_at
    await records.save_fields(
        ctx.conn, record, ["amount_refunded", "status", "refunded_at", "updated_at"]
    )
    await emit(ctx, "purchase.refunded", record)
