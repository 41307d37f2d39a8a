"""What happens at the sandbox when a buyer or a developer acts: each action changes the
sandbox's objects and records the events a provider would send, in one transaction.

The caller then sends the pending events (`EventSender.flush`) outside the transaction, so
the service's webhook, which runs in this same process, can write while the sandbox waits.
Errors a caller can cause are `core.errors`: 404 for an unknown object, 409 for one whose
state forbids the action; a refused action changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.errors import Conflict, NotFound
from core.models import SandboxObject
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow
from sandbox_provider import events, objects, store

OPEN = "open"
ENDED = frozenset({"canceled", "incomplete_expired"})


async def emit(
    conn: BaseDBAsyncClient,
    provider_key: str,
    event_type: str,
    obj: dict[str, Any],
    *,
    clock_of: dict[str, Any] | None = None,
) -> None:
    """Record one pending event about `obj` as it is now (and advance `obj`'s clock, or
    that of `clock_of`: the stored object `obj` is a view of, as a charge of its payment)."""
    created = store.stamp(obj if clock_of is None else clock_of)
    body = events.event(store.new_id(store.EVENT), event_type, obj, created)
    await store.create(conn, body["id"], provider_key, store.PENDING_EVENT, body)


async def _session(conn: BaseDBAsyncClient, session_id: str) -> SandboxObject:
    row = await store.lock(conn, session_id, store.CHECKOUT_SESSION)
    if row is None:
        raise NotFound(
            f"checkout session '{session_id}' not found", code="checkout_session_not_found"
        )
    return row


def _require_open(row: SandboxObject) -> None:
    status = row.data.get("status")
    if status != OPEN:
        raise Conflict(
            f"checkout session '{row.id}' is {status}, not open",
            code="checkout_session_closed",
        )


async def save(conn: BaseDBAsyncClient, row: SandboxObject, data: dict[str, Any]) -> None:
    row.data = data
    await store.save(conn, row)


async def pay_invoice(
    conn: BaseDBAsyncClient, key: str, invoice: dict[str, Any], now: datetime
) -> None:
    """Give a paid invoice its payment (a succeeded payment intent, in `payment_intent`), as
    Stripe does; none when nothing was paid (a trial's, a downgrade's)."""
    if int(invoice.get("amount_paid") or 0) <= 0 or invoice.get("payment_intent"):
        return
    intent = objects.invoice_payment_intent(store.new_id(store.PAYMENT_INTENT), invoice, now)
    invoice["payment_intent"] = intent["id"]
    await store.create(conn, intent["id"], key, store.PAYMENT_INTENT, intent)


def due(data: dict[str, Any], now: datetime) -> bool:
    """An open session past its `expires_at`."""
    return data.get("status") == OPEN and int(data.get("expires_at") or 0) <= int(now.timestamp())


async def pay(session_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Complete an open session: a subscription and its first invoice, or a paid payment."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await _session(conn, session_id)
        _require_open(row)
        session = dict(row.data)
        key = row.provider_key
        if session["mode"] == "subscription":
            sub = objects.subscription(store.new_id(store.SUBSCRIPTION), session, now)
            trialing = sub["status"] == "trialing"
            amount = 0 if trialing else int(session.get("amount_total") or 0)
            invoice = objects.invoice(
                store.new_id(store.INVOICE),
                sub,
                paid=True,
                amount=amount,
                now=now,
                number=await store.next_invoice_number(conn, key),
                billing_reason="subscription_create",
            )
            sub["latest_invoice"] = invoice["id"]
            await pay_invoice(conn, key, invoice, now)
            session.update(
                status="complete",
                payment_status="no_payment_required" if trialing else "paid",
                subscription=sub["id"],
            )
            await emit(conn, key, events.SUBSCRIPTION_CREATED, sub)
            await emit(conn, key, events.INVOICE_PAID, invoice)
            await store.create(conn, sub["id"], key, store.SUBSCRIPTION, sub)
            await store.create(conn, invoice["id"], key, store.INVOICE, invoice)
        else:
            intent = await _payment_intent(conn, key, session, succeeded=True, now=now)
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        session["completed_at"] = objects.unix(now)
        await emit(conn, key, events.CHECKOUT_COMPLETED, session)
        await save(conn, row, session)
        return session


async def _payment_intent(
    conn: BaseDBAsyncClient,
    key: str,
    session: dict[str, Any],
    *,
    succeeded: bool,
    now: datetime,
) -> dict[str, Any]:
    """The session's payment intent (made on the first attempt) in its new state."""
    existing = session.get("payment_intent")
    row = await store.lock(conn, existing, store.PAYMENT_INTENT) if existing else None
    if row is None:
        intent = objects.payment_intent(
            store.new_id(store.PAYMENT_INTENT), session, succeeded=succeeded, now=now
        )
        await store.create(conn, intent["id"], key, store.PAYMENT_INTENT, intent)
        return intent
    intent = dict(row.data)
    intent["status"] = "succeeded" if succeeded else "requires_payment_method"
    await save(conn, row, intent)
    return intent


async def decline(session_id: str, now: datetime | None = None) -> dict[str, Any]:
    """A declined card: the session stays open; in payment mode its payment has failed."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await _session(conn, session_id)
        _require_open(row)
        session = dict(row.data)
        session["declines"] = int(session.get("declines") or 0) + 1
        if session["mode"] == "payment":
            intent = await _payment_intent(
                conn, row.provider_key, session, succeeded=False, now=now
            )
            session["payment_intent"] = intent["id"]
            await emit(conn, row.provider_key, events.PAYMENT_FAILED, intent)
        # Subscription mode: Stripe creates no subscription for a declined first payment,
        # so there is nothing to tell the service; the buyer sees the page again.
        await save(conn, row, session)
        return session


async def expire(
    session_id: str, now: datetime | None = None, *, only_if_due: bool = False
) -> dict[str, Any] | None:
    """Expire an open session (`checkout.session.expired`); with `only_if_due`, only one whose
    time is up, and None (no error) for any other."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await _session(conn, session_id)
        if only_if_due and not due(row.data, now):
            return None
        _require_open(row)
        session = dict(row.data)
        session["status"] = "expired"
        await emit(conn, row.provider_key, events.CHECKOUT_EXPIRED, session)
        await save(conn, row, session)
        return session


async def live_subscription(
    conn: BaseDBAsyncClient, subscription_id: str, provider_key: str | None = None
) -> SandboxObject:
    """The subscription's row, locked; 404 if unknown (or another key's), 409 if it ended."""
    row = await store.lock(conn, subscription_id, store.SUBSCRIPTION)
    if row is None or (provider_key is not None and row.provider_key != provider_key):
        raise NotFound(
            f"sandbox subscription '{subscription_id}' not found",
            code="sandbox_subscription_not_found",
        )
    if row.data.get("status") in ENDED:
        raise Conflict(
            f"sandbox subscription '{subscription_id}' is {row.data.get('status')}",
            code="sandbox_subscription_canceled",
        )
    return row


async def _open_invoice(conn: BaseDBAsyncClient, sub: dict[str, Any]) -> SandboxObject | None:
    latest = sub.get("latest_invoice")
    row = await store.lock(conn, latest, store.INVOICE) if latest else None
    return row if row is not None and row.data.get("status") == "open" else None


async def _new_period_invoice(
    conn: BaseDBAsyncClient, key: str, sub: dict[str, Any], *, paid: bool, now: datetime
) -> dict[str, Any]:
    start, end = objects.next_period(sub, now)
    sub.update(current_period_start=start, current_period_end=end)
    if sub.get("trial_end") and float(sub["trial_end"]) > start:
        sub["trial_end"] = start  # a renewal during the trial ends the trial
    amount = int((sub.get("item") or {}).get("unit_amount") or 0)
    invoice = objects.invoice(
        store.new_id(store.INVOICE),
        sub,
        paid=paid,
        amount=amount,
        now=now,
        number=await store.next_invoice_number(conn, key),
    )
    sub["latest_invoice"] = invoice["id"]
    if paid:
        await pay_invoice(conn, key, invoice, now)
    await store.create(conn, invoice["id"], key, store.INVOICE, invoice)
    return invoice


async def renew(subscription_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The renewal is paid: a past_due subscription's open invoice is paid (same period, as
    Stripe's retry), any other starts its next period; it is active either way. One with a
    cancel pending at the period's end ends instead (`customer.subscription.deleted`)."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await live_subscription(conn, subscription_id)
        if row.data.get("cancel_at_period_end"):
            return await cancel_now(conn, row, now)
        sub = dict(row.data)
        open_invoice = await _open_invoice(conn, sub)
        if sub.get("status") == "past_due" and open_invoice is not None:
            invoice = dict(open_invoice.data)
            invoice.update(status="paid", amount_paid=invoice.get("amount_due"))
            await pay_invoice(conn, row.provider_key, invoice, now)
            await save(conn, open_invoice, invoice)
        else:
            invoice = await _new_period_invoice(conn, row.provider_key, sub, paid=True, now=now)
        sub["status"] = "active"
        await emit(conn, row.provider_key, events.SUBSCRIPTION_UPDATED, sub)
        await emit(conn, row.provider_key, events.INVOICE_PAID, invoice)
        await save(conn, row, sub)
        return sub


async def fail_next_payment(subscription_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The renewal's payment fails: the next period starts unpaid and the subscription is
    past_due (a past_due one's open invoice just fails again). One with a cancel pending at
    the period's end ends instead: there is no next payment."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await live_subscription(conn, subscription_id)
        if row.data.get("cancel_at_period_end"):
            return await cancel_now(conn, row, now)
        sub = dict(row.data)
        open_invoice = await _open_invoice(conn, sub)
        if sub.get("status") == "past_due" and open_invoice is not None:
            invoice = dict(open_invoice.data)
        else:
            invoice = await _new_period_invoice(conn, row.provider_key, sub, paid=False, now=now)
            sub["status"] = "past_due"
            await emit(conn, row.provider_key, events.SUBSCRIPTION_UPDATED, sub)
        invoice["attempt_count"] = int(invoice.get("attempt_count") or 0) + 1
        await store.replace(conn, invoice["id"], invoice)
        await emit(conn, row.provider_key, events.INVOICE_PAYMENT_FAILED, invoice)
        await save(conn, row, sub)
        return sub


async def cancel_now(conn: BaseDBAsyncClient, row: SandboxObject, now: datetime) -> dict[str, Any]:
    """End the locked, live subscription `row` now (`customer.subscription.deleted`)."""
    sub = dict(row.data)
    sub.update(
        status="canceled",
        canceled_at=objects.unix(now),
        ended_at=objects.unix(now),
        cancel_at_period_end=False,
    )
    await emit(conn, row.provider_key, events.SUBSCRIPTION_DELETED, sub)
    await save(conn, row, sub)
    return sub


async def cancel_subscription(subscription_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Cancel now (`customer.subscription.deleted`)."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await live_subscription(conn, subscription_id)
        return await cancel_now(conn, row, now)
