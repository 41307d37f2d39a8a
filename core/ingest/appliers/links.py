"""The links between a checkout session and what it bought, kept in one place.

A checkout session names its purchase (`purchase_id`, `provider_payment_id`) and its
subscription (`subscription_id`, `provider_subscription_id`); a purchase names its checkout
(`provider_checkout_session_id`). The provider's events about each arrive in any order, so
every applier that learns one of these records calls the function for that relation here,
and whichever event arrives last completes the links, both ways. Nothing is ever unlinked
or relinked: a link once set is kept.

Only first sightings pay for this: a purchase or subscription being created, a checkout
fact. The common webhook (a renewal, an update of a known subscription) runs none of it.
"""

from __future__ import annotations

from core.ingest import provider_read_tasks, queries
from core.ingest.appliers.context import ApplyContext
from core.models import CheckoutSession, Purchase, Subscription
from core.store import records, sql
from core.store.dialect import for_dialect

PURCHASE_SIDE = ("provider_checkout_session_id", "provider_customer_id", "updated_at")
SESSION_PURCHASE_SIDE = ("purchase_id", "provider_payment_id", "updated_at")
SESSION_SUBSCRIPTION_SIDE = ("subscription_id", "provider_subscription_id", "updated_at")


async def checkout_of_payment(
    ctx: ApplyContext, provider_payment_id: str, provider_checkout_session_id: str | None
) -> CheckoutSession | None:
    """The checkout session a payment belongs to: named by the fact, or knowing the payment."""
    if provider_checkout_session_id:
        found = await records.find(
            ctx.conn,
            CheckoutSession,
            provider_key=ctx.provider_key,
            provider_checkout_session_id=provider_checkout_session_id,
        )
        if found is not None:
            return found
    return await records.find(
        ctx.conn,
        CheckoutSession,
        provider_key=ctx.provider_key,
        provider_payment_id=provider_payment_id,
    )


async def purchase_and_checkout(
    ctx: ApplyContext, purchase: Purchase, session: CheckoutSession, *, save_session: bool
) -> None:
    """Point the purchase and its checkout at each other (what is already set is kept).

    The purchase's side is saved here when it changed; the session's too, unless the caller
    saves the session itself (`save_session=False`, with `SESSION_PURCHASE_SIDE` among the
    fields it saves), so a checkout fact still costs one UPDATE of its session.
    """
    moved = []
    if purchase.provider_checkout_session_id is None:
        purchase.provider_checkout_session_id = session.provider_checkout_session_id
        moved.append("provider_checkout_session_id")
    if purchase.provider_customer_id is None and session.provider_customer_id:
        purchase.provider_customer_id = session.provider_customer_id
        moved.append("provider_customer_id")
    if moved:
        await records.save_fields(ctx.conn, purchase, PURCHASE_SIDE)
    changed = False
    if session.purchase_id is None:  # type: ignore[attr-defined]
        session.purchase_id = purchase.id
        changed = True
    if session.provider_payment_id is None:
        session.provider_payment_id = purchase.provider_payment_id
        changed = True
    if changed and save_session:
        await records.save_fields(ctx.conn, session, SESSION_PURCHASE_SIDE)


async def checkout_and_subscription(ctx: ApplyContext, session: CheckoutSession) -> None:
    """A checkout that names its subscription points at our record of it (the caller saves
    the session, with `SESSION_SUBSCRIPTION_SIDE` among its fields).

    A completed subscription checkout whose subscription we do not know yet asks, in this
    same transaction, for the subscription to be read from the provider off the request path
    (`core.ingest.provider_reads`): an endpoint that receives only checkout events still learns it.
    """
    if not session.provider_subscription_id or session.subscription_id is not None:  # type: ignore[attr-defined]
        return
    subscription = await records.find(
        ctx.conn,
        Subscription,
        provider_key=ctx.provider_key,
        provider_subscription_id=session.provider_subscription_id,
    )
    if subscription is not None:
        session.subscription_id = subscription.id
    elif session.status == "complete":
        await provider_read_tasks.enqueue(
            ctx.conn,
            ctx.provider_key,
            provider_read_tasks.SUBSCRIPTION,
            session.provider_subscription_id,
        )


async def subscription_and_checkout(ctx: ApplyContext, record: Subscription) -> None:
    """A new subscription: the checkout that started it (if it told us so) points at it.

    One statement, on the checkout's `provider_subscription_id` index; when the checkout's
    own event arrives later, `checkout_and_subscription` finds the subscription instead.
    """
    column = CheckoutSession._meta.fields_map["subscription_id"]
    await sql.fetch(
        ctx.conn,
        for_dialect(ctx.conn, queries.LINK_CHECKOUT_TO_SUBSCRIPTION),
        [
            column.to_db_value(record.id, CheckoutSession),
            ctx.provider_key,
            record.provider_subscription_id,
        ],
    )
