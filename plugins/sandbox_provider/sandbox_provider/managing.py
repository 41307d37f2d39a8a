"""Managing what was bought, at the sandbox: cancel, resume and change a subscription, open a
portal session, refund a payment and move a dispute.

Like `actions`, each action changes the sandbox's objects and records the events Stripe
would send in one transaction; the caller flushes them afterwards. An action given an
idempotency key remembers it (an `idempotency` row, in the same transaction): a retry with
the same key changes nothing more and answers the object as it is now. A key belongs to one
provider key and one action; the host makes it from the caller's `Idempotency-Key` and what
it asks, so another request never shares it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.errors import Conflict, FieldProblem, NotFound, Unprocessable, ValidationFailed
from core.facts import DISPUTE_CLOSED, DISPUTE_STATUSES, PRICING_ITEM_CODE
from core.models import SandboxObject
from core.providers import ChangePreview, Proration
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow
from sandbox_provider import actions, events, objects, store
from sandbox_provider.actions import emit, live_subscription, save

SUCCEEDED = "succeeded"
DEFAULT_DISPUTE_REASON = "fraudulent"


def _idempotency_id(provider_key: str, action: str, idempotency_key: str) -> str:
    digest = hashlib.sha256("\x1f".join((provider_key, action, idempotency_key)).encode())
    return f"idem_sbx_{digest.hexdigest()[:40]}"


async def _done_before(
    conn: BaseDBAsyncClient, provider_key: str, action: str, idempotency_key: str | None
) -> bool:
    if idempotency_key is None:
        return False
    row = await store.find(
        _idempotency_id(provider_key, action, idempotency_key), store.IDEMPOTENCY, using_db=conn
    )
    return row is not None


async def _remember(
    conn: BaseDBAsyncClient,
    provider_key: str,
    *,
    action: str,
    key: str | None,
    object_id: str,
    now: datetime,
) -> None:
    if key is None:
        return
    await store.create(
        conn,
        _idempotency_id(provider_key, action, key),
        provider_key,
        store.IDEMPOTENCY,
        {"action": action, "object": object_id, "created": objects.unix(now)},
    )


async def _subscription_row(
    conn: BaseDBAsyncClient, subscription_id: str, provider_key: str
) -> SandboxObject:
    """The subscription, locked, whatever its state; 404 if unknown or another key's."""
    row = await store.lock(conn, subscription_id, store.SUBSCRIPTION)
    if row is None or row.provider_key != provider_key:
        raise NotFound(
            f"sandbox subscription '{subscription_id}' not found",
            code="sandbox_subscription_not_found",
        )
    return row


async def cancel(
    subscription_id: str,
    *,
    provider_key: str,
    at_period_end: bool,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """At the period's end: `cancel_at_period_end` and `canceled_at` now, still active until
    then (`customer.subscription.updated`); now: canceled (`customer.subscription.deleted`).
    Asking again for a pending cancel at the period's end changes nothing and sends nothing.
    404 unknown, 409 `sandbox_subscription_canceled` when it has ended."""
    now = now or utcnow()
    action = "cancel_at_period_end" if at_period_end else "cancel_now"
    async with unit_of_work() as conn:
        if await _done_before(conn, provider_key, action, idempotency_key):
            return dict((await _subscription_row(conn, subscription_id, provider_key)).data)
        row = await live_subscription(conn, subscription_id, provider_key)
        if not at_period_end:
            sub = await actions.cancel_now(conn, row, now)
        else:
            sub = dict(row.data)
            if not sub.get("cancel_at_period_end"):
                sub.update(cancel_at_period_end=True, canceled_at=objects.unix(now))
                await emit(conn, provider_key, events.SUBSCRIPTION_UPDATED, sub)
                await save(conn, row, sub)
        await _remember(
            conn,
            provider_key,
            action=action,
            key=idempotency_key,
            object_id=subscription_id,
            now=now,
        )
        return sub


async def resume(
    subscription_id: str,
    *,
    provider_key: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Undo a pending cancel at the period's end (`customer.subscription.updated`); one with
    none pending is answered as it is, with no event. 404 unknown, 409 ended."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        if await _done_before(conn, provider_key, "resume", idempotency_key):
            return dict((await _subscription_row(conn, subscription_id, provider_key)).data)
        row = await live_subscription(conn, subscription_id, provider_key)
        sub = dict(row.data)
        if sub.get("cancel_at_period_end"):
            sub.update(cancel_at_period_end=False, canceled_at=None)
            await emit(conn, provider_key, events.SUBSCRIPTION_UPDATED, sub)
            await save(conn, row, sub)
        await _remember(
            conn,
            provider_key,
            action="resume",
            key=idempotency_key,
            object_id=subscription_id,
            now=now,
        )
        return sub


def _check_change(sub: dict[str, Any], item: dict[str, Any]) -> None:
    if not item.get("interval"):
        raise Unprocessable(
            f"'{item.get('code')}' is not a recurring item", code="pricing_item_unavailable"
        )
    if not item.get("price"):
        raise Unprocessable(
            f"the sandbox needs the price of '{item.get('code')}' to change to it",
            code="provider_price_missing",
        )
    current = (sub.get("item") or {}).get("currency")
    if current and item.get("currency") != current:
        # As Stripe: one subscription (one customer) is billed in one currency.
        raise Unprocessable(
            f"the subscription is billed in {current}; '{item.get('code')}' is in "
            f"{item.get('currency')}",
            code="sandbox_currency_mismatch",
        )


async def change(
    subscription_id: str,
    *,
    provider_key: str,
    item: dict[str, Any],
    proration: Proration,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move the subscription to `item` (`objects.item_data`, with its sandbox price) for the
    rest of its current period (`customer.subscription.updated`). `always_invoice` also
    invoices the prorated difference now, paid at once (`invoice.paid`); `create_prorations`
    and `none` invoice nothing now. 404 unknown, 409 ended, 422 another currency."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        if await _done_before(conn, provider_key, "change", idempotency_key):
            return dict((await _subscription_row(conn, subscription_id, provider_key)).data)
        row = await live_subscription(conn, subscription_id, provider_key)
        sub = dict(row.data)
        _check_change(sub, item)
        lines = objects.proration_lines(sub, item, proration, now)
        sub.update(
            item=dict(item),
            price=item["price"],
            metadata={**(sub.get("metadata") or {}), PRICING_ITEM_CODE: str(item["code"])},
        )
        invoice: dict[str, Any] | None = None
        if proration == "always_invoice":
            invoice = objects.invoice(
                store.new_id(store.INVOICE),
                sub,
                paid=True,
                amount=objects.amount_due(lines),
                now=now,
                number=await store.next_invoice_number(conn, provider_key),
                billing_reason="subscription_update",
                lines=[{"description": line.description, "amount": line.amount} for line in lines],
            )
            sub["latest_invoice"] = invoice["id"]
            await actions.pay_invoice(conn, provider_key, invoice, now)
        await emit(conn, provider_key, events.SUBSCRIPTION_UPDATED, sub)
        if invoice is not None:
            await emit(conn, provider_key, events.INVOICE_PAID, invoice)
            await store.create(conn, invoice["id"], provider_key, store.INVOICE, invoice)
        await save(conn, row, sub)
        await _remember(
            conn,
            provider_key,
            action="change",
            key=idempotency_key,
            object_id=subscription_id,
            now=now,
        )
        return sub


async def preview(
    subscription_id: str,
    *,
    provider_key: str,
    item: dict[str, Any],
    proration: Proration,
    now: datetime | None = None,
) -> ChangePreview:
    """What `change` would invoice now (`always_invoice`'s invoice, or the prorations that
    `create_prorations` leaves for the next one); changes nothing."""
    now = now or utcnow()
    row = await store.find(subscription_id, store.SUBSCRIPTION)
    if row is None or row.provider_key != provider_key:
        raise NotFound(
            f"sandbox subscription '{subscription_id}' not found",
            code="sandbox_subscription_not_found",
        )
    sub = row.data
    if sub.get("status") in actions.ENDED:
        raise Conflict(
            f"sandbox subscription '{subscription_id}' is {sub.get('status')}",
            code="sandbox_subscription_canceled",
        )
    _check_change(sub, item)
    lines = objects.proration_lines(sub, item, proration, now)
    return ChangePreview(
        amount_due=objects.amount_due(lines),
        currency=str(item.get("currency")),
        proration_date=now,
        lines=lines,
    )


async def open_portal(
    session_id: str,
    *,
    provider_key: str,
    customer_id: str,
    return_url: str,
    url: str,
    metadata: dict[str, str],
    expires_after: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The portal session `session_id` (made from the idempotency key): made once, then the
    same one again. 404 `customer_not_found` for a customer the sandbox does not have."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        found = await store.lock(conn, session_id, store.PORTAL_SESSION)
        if found is not None and found.provider_key == provider_key:
            return dict(found.data)
        customer = await store.find(customer_id, store.CUSTOMER, using_db=conn)
        if customer is None or customer.provider_key != provider_key:
            raise NotFound(
                f"customer '{customer_id}' not found at provider '{provider_key}'",
                code="customer_not_found",
            )
        data = objects.portal_session(
            session_id,
            customer_id=customer_id,
            return_url=return_url,
            url=url,
            metadata=metadata,
            now=now,
            expires_after=expires_after,
        )
        await store.create(conn, session_id, provider_key, store.PORTAL_SESSION, data)
        return data


async def _payment_row(
    conn: BaseDBAsyncClient, payment_id: str, provider_key: str | None
) -> SandboxObject:
    row = await store.lock(conn, payment_id, store.PAYMENT_INTENT)
    if row is None or (provider_key is not None and row.provider_key != provider_key):
        raise NotFound(
            f"sandbox payment intent '{payment_id}' not found",
            code="sandbox_payment_not_found",
        )
    return row


def _require_succeeded(intent: dict[str, Any]) -> None:
    if intent.get("status") != SUCCEEDED:
        raise Conflict(
            f"sandbox payment intent '{intent['id']}' is {intent.get('status')}, not succeeded",
            code="sandbox_payment_not_succeeded",
        )


async def refund(
    payment_id: str,
    *,
    provider_key: str,
    amount: int,
    reason: str | None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Refund `amount` of a succeeded payment: its `amount_refunded` grows, the refund is
    kept in its `refunds`, and `charge.refunded` carries its charge. 404 unknown, 409 not
    succeeded, 422 `refund_exceeds_remaining` for more than is left (or nothing left)."""
    now = now or utcnow()
    async with unit_of_work() as conn:
        if await _done_before(conn, provider_key, "refund", idempotency_key):
            return dict((await _payment_row(conn, payment_id, provider_key)).data)
        row = await _payment_row(conn, payment_id, provider_key)
        intent = dict(row.data)
        _require_succeeded(intent)
        left = int(intent.get("amount") or 0) - int(intent.get("amount_refunded") or 0)
        if amount <= 0:
            raise ValidationFailed([FieldProblem("amount", "must be a positive amount")])
        if amount > left:
            raise Unprocessable(
                f"cannot refund {amount}: {left} is left of payment '{payment_id}'",
                code="refund_exceeds_remaining",
            )
        refund_id = store.new_id(store.REFUND)
        intent["amount_refunded"] = int(intent.get("amount_refunded") or 0) + amount
        intent["refunds"] = [
            *(intent.get("refunds") or []),
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "reason": reason,
                "status": SUCCEEDED,
                "created": objects.unix(now),
            },
        ]
        await emit(
            conn, provider_key, events.CHARGE_REFUNDED, objects.charge(intent), clock_of=intent
        )
        await save(conn, row, intent)
        await _remember(
            conn, provider_key, action="refund", key=idempotency_key, object_id=payment_id, now=now
        )
        return intent


async def dispute(
    payment_id: str,
    *,
    status: str,
    reason: str | None = None,
    provider_key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Open a dispute of a succeeded payment, or move its dispute to `status`.

    A new dispute sends `charge.dispute.created` (one opened straight as closed, `won` or
    `lost`, is created `needs_response` and then closed: both events); moving an open one
    sends `charge.dispute.updated`, or `charge.dispute.closed` for a closing status. 404
    unknown, 409 not succeeded or its dispute already closed, 400 an unknown status.
    """
    if status not in DISPUTE_STATUSES:
        raise ValidationFailed(
            [FieldProblem("status", f"must be one of {', '.join(DISPUTE_STATUSES)}")]
        )
    now = now or utcnow()
    async with unit_of_work() as conn:
        row = await _payment_row(conn, payment_id, provider_key)
        key = row.provider_key
        intent = dict(row.data)
        _require_succeeded(intent)
        existing = intent.get("dispute")
        found = await store.lock(conn, existing, store.DISPUTE) if existing else None
        if found is None:
            opening = "needs_response" if status in DISPUTE_CLOSED else status
            data = objects.dispute(
                store.new_id(store.DISPUTE),
                intent,
                status=opening,
                reason=reason or DEFAULT_DISPUTE_REASON,
                now=now,
            )
            await emit(conn, key, events.DISPUTE_CREATED, data)
            await store.create(conn, data["id"], key, store.DISPUTE, data)
            intent["dispute"] = data["id"]
            await save(conn, row, intent)
            if opening == status:
                return data
        else:
            data = dict(found.data)
            if data.get("status") in DISPUTE_CLOSED:
                raise Conflict(
                    f"sandbox dispute '{data['id']}' is closed ({data.get('status')})",
                    code="sandbox_dispute_closed",
                )
        data["status"] = status
        if reason:
            data["reason"] = reason
        closing = status in DISPUTE_CLOSED
        await emit(conn, key, events.DISPUTE_CLOSED if closing else events.DISPUTE_UPDATED, data)
        await store.replace(conn, data["id"], data)
        return data
