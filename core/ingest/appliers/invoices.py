"""Invoice facts applied to `Invoice` records, and to the subscription they bill.

An invoice only moves forward: draft -> open -> uncollectible -> paid or void, and what was
paid of it only grows. It belongs to its subscription's tenant, else (a one-off invoice) to
the tenant its metadata or its customer names; an invoice of nobody we know (another app on
the same provider account) is left alone. Becoming paid emits `invoice.paid`; a failed
payment emits `invoice.payment_failed` (unless the invoice has already moved past it), and
the subscription's own events follow from `subscriptions.bill`.
"""

from __future__ import annotations

from typing import Any

from core import serializers
from core.facts import InvoiceFact
from core.ingest.appliers import subscriptions
from core.ingest.appliers.context import ApplyContext, Tenant, TenantUnknown
from core.ingest.appliers.tenancy import resolve_tenant
from core.models import Invoice, Subscription
from core.store import records

RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
FILLED = (
    "number",
    "hosted_invoice_url",
    "invoice_pdf_url",
    "provider_payment_id",
    "period_start",
    "period_end",
)
"""Fields a fact sets when it names them (a later fact may correct a URL or the period)."""


async def find(ctx: ApplyContext, provider_invoice_id: str) -> Invoice | None:
    return await records.find(
        ctx.conn,
        Invoice,
        for_update=True,
        provider_key=ctx.provider_key,
        provider_invoice_id=provider_invoice_id,
    )


def _status(fact: InvoiceFact) -> str:
    """The invoice's status; an `invoice.paid` event says paid whatever its object says."""
    if fact.paid:
        return "paid"
    return str(fact.status) if fact.status in RANK else "open"


async def emit(
    ctx: ApplyContext, event_type: str, record: Invoice, subscription: Subscription | None
) -> None:
    code = subscription.pricing_item_code if subscription is not None else ""
    data: dict[str, Any] = {"invoice": serializers.invoice(record), "pricingItemCode": code}
    await ctx.emit(event_type, Tenant(record.consumer_key, record.consumer_tenant_id), data)


async def apply_invoice(ctx: ApplyContext, fact: InvoiceFact) -> None:
    """Keep the invoice (when the provider names it) and bill its subscription."""
    subscription = None
    if fact.provider_subscription_id:
        subscription = await subscriptions.find(ctx, fact.provider_subscription_id)
        if subscription is None:
            # Its subscription event has not arrived yet: keep the invoice until it has.
            raise TenantUnknown(subscription_id=fact.provider_subscription_id)
    current = True
    if fact.provider_invoice_id:
        kept = await _keep(ctx, fact, subscription)
        current = kept is None or kept
    if subscription is not None and current:
        await subscriptions.bill(ctx, subscription, fact)


async def _keep(
    ctx: ApplyContext, fact: InvoiceFact, subscription: Subscription | None
) -> bool | None:
    """Create or move the invoice record; whether the fact is current for it (a failure
    reported after the invoice was paid or voided is not); None when it is nobody's."""
    assert fact.provider_invoice_id is not None
    record = await find(ctx, fact.provider_invoice_id)
    status = _status(fact)
    if record is None:
        tenant = (
            Tenant(subscription.consumer_key, subscription.consumer_tenant_id)
            if subscription is not None
            else await resolve_tenant(ctx, fact.metadata, fact.provider_customer_id)
        )
        if tenant is None:
            return None
        record = await records.create(
            ctx.conn,
            Invoice,
            provider_key=ctx.provider_key,
            provider_invoice_id=fact.provider_invoice_id,
            provider_subscription_id=fact.provider_subscription_id,
            subscription_id=subscription.id if subscription is not None else None,
            consumer_key=tenant.consumer_key,
            consumer_tenant_id=tenant.consumer_tenant_id,
            status=status,
            amount_due=fact.amount_due or 0,
            amount_paid=fact.amount_paid or 0,
            currency=(fact.currency or "").lower(),
            provider_updated_at=ctx.occurred_at,
            **{name: getattr(fact, name) for name in FILLED},
        )
        ctx.count("invoice", "created")
        await _announce(ctx, record, subscription, fact, became_paid=status == "paid")
        return True
    if record.provider_updated_at is not None and ctx.occurred_at < record.provider_updated_at:
        ctx.count("invoice", "stale")
        return fact.paid is not False  # a renewal only moves the period forward anyway
    was = record.status
    # A failure at the moment already applied is the same failure again (a replay).
    again = record.provider_updated_at is not None and ctx.occurred_at <= record.provider_updated_at
    changed = _merge(record, fact, status)
    record.provider_updated_at = ctx.occurred_at
    await records.save_fields(ctx.conn, record, [*changed, "provider_updated_at", "updated_at"])
    ctx.count("invoice", "updated" if changed else "unchanged")
    settled = RANK[was] >= RANK["paid"]
    if fact.paid is False and (settled or again):
        return False  # a failure reported after the invoice was paid or voided, or told already
    await _announce(ctx, record, subscription, fact, became_paid=was != "paid" == record.status)
    return True


def _merge(record: Invoice, fact: InvoiceFact, status: str) -> list[str]:
    """Move the record's fields as far as the fact says; the names of those that changed."""
    changed: list[str] = []
    if RANK[status] > RANK[record.status]:
        record.status = status
        changed.append("status")
    if fact.amount_paid is not None and fact.amount_paid > record.amount_paid:
        record.amount_paid = fact.amount_paid
        changed.append("amount_paid")
    if fact.amount_due is not None and fact.amount_due != record.amount_due:
        record.amount_due = fact.amount_due
        changed.append("amount_due")
    if fact.currency and not record.currency:
        record.currency = fact.currency.lower()
        changed.append("currency")
    for name in FILLED:
        value = getattr(fact, name)
        if value is not None and getattr(record, name) != value:
            setattr(record, name, value)
            changed.append(name)
    return changed


async def _announce(
    ctx: ApplyContext,
    record: Invoice,
    subscription: Subscription | None,
    fact: InvoiceFact,
    *,
    became_paid: bool,
) -> None:
    if became_paid:
        await emit(ctx, "invoice.paid", record, subscription)
    elif fact.paid is False:
        await emit(ctx, "invoice.payment_failed", record, subscription)
    else:
        ctx.touched.add(record.consumer_tenant_id)
