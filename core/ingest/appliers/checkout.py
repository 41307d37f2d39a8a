"""Checkout session facts applied to `CheckoutSession` records.

A session only moves forward: open -> complete or expired, and its payment status from
unpaid to paid. Completing a one-time checkout that is paid makes the purchase paid;
completing a subscription checkout links the subscription (created from its own
provider events, or from the refresh's fact), whichever arrives first
(`core.ingest.appliers.links`).
"""

from __future__ import annotations

from typing import Any

from core import serializers
from core.facts import PRICING_ITEM_CODE, CheckoutSessionFact, PaymentFact
from core.ingest.appliers import links, purchases
from core.ingest.appliers.context import ApplyContext, Tenant, TenantUnknown
from core.ingest.appliers.tenancy import remember_customer, resolve_tenant
from core.models import CheckoutSession
from core.store import records

STATUS_RANK = {"open": 0, "complete": 1, "expired": 1}
PAID = frozenset({"paid", "no_payment_required"})
FILLED_ONCE = (
    "provider_customer_id",
    "provider_subscription_id",
    "provider_payment_id",
    "amount_total",
    "currency",
)
"""Fields a fact fills in when the session does not know them yet, and never changes after."""
SESSION_FIELDS = (
    "status",
    "payment_status",
    *FILLED_ONCE,
    *links.SESSION_SUBSCRIPTION_SIDE,
    *links.SESSION_PURCHASE_SIDE,
)
"""Everything applying a fact may change on a session."""


async def _find(ctx: ApplyContext, fact: CheckoutSessionFact) -> CheckoutSession | None:
    return await records.find(
        ctx.conn,
        CheckoutSession,
        for_update=True,
        provider_key=ctx.provider_key,
        provider_checkout_session_id=fact.provider_checkout_session_id,
    )


def _new(ctx: ApplyContext, fact: CheckoutSessionFact, tenant: Tenant) -> CheckoutSession:
    """A session opened outside this service (a payment link, the dashboard) but for our
    tenant, built in memory: `apply_checkout_session` inserts it once the fact is applied,
    in one statement instead of an INSERT and an UPDATE."""
    ctx.made_known("checkout_session", fact.provider_checkout_session_id)
    return CheckoutSession(
        provider_key=ctx.provider_key,
        provider_checkout_session_id=fact.provider_checkout_session_id,
        status="open",
        mode=fact.mode,
        payment_status="unpaid",
        pricing_item_code=fact.metadata.get(PRICING_ITEM_CODE, ""),
        consumer_key=tenant.consumer_key,
        consumer_tenant_id=tenant.consumer_tenant_id,
        provider_customer_id=fact.provider_customer_id,
        success_url="",
        cancel_url="",
        amount_total=fact.amount_total,
        currency=fact.currency,
    )


async def _tenant(ctx: ApplyContext, fact: CheckoutSessionFact) -> Tenant:
    """The tenant of a session we have no record of; `TenantUnknown` defers the event."""
    tenant = await resolve_tenant(ctx, fact.metadata, fact.provider_customer_id)
    if tenant is None:
        raise TenantUnknown(
            checkout_session_id=fact.provider_checkout_session_id,
            customer_id=fact.provider_customer_id,
        )
    return tenant


async def emit(ctx: ApplyContext, event_type: str, session: CheckoutSession) -> None:
    data: dict[str, Any] = {
        "checkoutSession": serializers.checkout_session(session),
        "pricingItemCode": session.pricing_item_code,
    }
    await ctx.emit(event_type, Tenant(session.consumer_key, session.consumer_tenant_id), data)


async def apply_checkout_session(ctx: ApplyContext, fact: CheckoutSessionFact) -> None:
    session = await _find(ctx, fact)
    created = session is None
    if session is None:
        session = _new(ctx, fact, await _tenant(ctx, fact))
    tenant = Tenant(session.consumer_key, session.consumer_tenant_id)
    old_status = session.status
    if STATUS_RANK.get(fact.status, -1) > STATUS_RANK[session.status]:
        session.status = fact.status
    if fact.payment_status in PAID and session.payment_status not in PAID:
        session.payment_status = fact.payment_status
    for name in FILLED_ONCE:
        value = getattr(fact, name)
        if value is not None and getattr(session, name) is None:
            setattr(session, name, value)
    await links.checkout_and_subscription(ctx, session)
    payment = _payment_fact(session, fact)
    purchase = await purchases.ensure(ctx, payment, session) if payment is not None else None
    if purchase is not None:
        await links.purchase_and_checkout(ctx, purchase, session, save_session=False)
    if created:
        await records.insert(ctx.conn, session)
    else:
        await records.save_fields(ctx.conn, session, SESSION_FIELDS)
    # A session first seen here makes its own id known (the look for waiting events runs
    # anyway), so its customer can be held back; on a known session, ask whether it is new.
    await remember_customer(ctx, tenant, session.provider_customer_id, hold_back=created)
    if session.status != old_status:
        await emit(
            ctx,
            "checkout.completed" if session.status == "complete" else "checkout.expired",
            session,
        )
    if purchase is not None and payment is not None:
        await purchases.advance(ctx, purchase, payment)


def _payment_fact(session: CheckoutSession, fact: CheckoutSessionFact) -> PaymentFact | None:
    """A completed one-time checkout is a purchase: paid, or pending an async payment (paid
    or failed later, as the provider's `payment_outcome` says)."""
    if session.mode != "payment" or session.status != "complete":
        return None
    status = fact.payment_outcome or ("paid" if session.payment_status in PAID else "pending")
    return PaymentFact(
        provider_payment_id=session.provider_payment_id or session.provider_checkout_session_id,
        status=status,
        amount=session.amount_total,
        currency=session.currency,
        provider_checkout_session_id=session.provider_checkout_session_id,
        provider_customer_id=session.provider_customer_id,
        metadata=dict(fact.metadata),
    )
