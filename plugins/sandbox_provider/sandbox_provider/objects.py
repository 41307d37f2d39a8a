"""The sandbox's objects (checkout sessions, subscriptions, invoices, payment intents) and
what they say in the host's terms.

Each object is a plain dict shaped like its Stripe namesake (snake_case, unix times), so
the events the sandbox sends read like Stripe's; the same functions turn a stored object
and an event's object into facts, so a refreshed checkout and a webhook never disagree.
Every object carries the tenant metadata (`consumerKey`, `consumerTenantId`,
`pricingItemCode`) the checkout put on it.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from core.facts import (
    CONSUMER_KEY,
    CONSUMER_TENANT_ID,
    PRICING_ITEM_CODE,
    CheckoutSessionFact,
    InvoiceFact,
    PaymentFact,
    SubscriptionFact,
)
from core.providers import CheckoutMode, CheckoutRequest, CheckoutStatus, ProviderCheckoutSession
from core.timeutil import from_unix

STATUSES = ("open", "complete", "expired")


def moment(data: Mapping[str, Any], *names: str) -> datetime | None:
    """The sandbox's own time of an object's state: the time of the last event it sent
    about the object (`clock`, in milliseconds, kept on the stored object), else the latest
    of the named timestamps (an object no event was sent about yet, an event's snapshot)."""
    clock = data.get("clock")
    if isinstance(clock, int | float) and not isinstance(clock, bool) and clock > 0:
        return from_unix(clock / 1000)
    found = [data[n] for n in names if isinstance(data.get(n), int | float)]
    return from_unix(max(found)) if found else None


def tenant_metadata(request: CheckoutRequest) -> dict[str, str]:
    return {
        CONSUMER_KEY: request.consumer_key,
        CONSUMER_TENANT_ID: request.consumer_tenant_id,
        PRICING_ITEM_CODE: request.item.code,
    }


def metadata_of(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def unix(moment: datetime) -> float:
    """Unix seconds with millisecond resolution (finer than Stripe's whole seconds, so a
    period the sandbox starts "now" has already started when the next request looks)."""
    return round(moment.timestamp(), 3)


def add_interval(start: datetime, interval: str | None, count: int) -> datetime:
    """One billing period after `start` (months keep the day, clamped to the month's end)."""
    count = max(count, 1)
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = 12 * count if interval == "year" else count
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def customer(customer_id: str, request: CheckoutRequest) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "name": request.legal_name or request.tenant_name,
        "email": request.billing_email,
        "metadata": {
            CONSUMER_KEY: request.consumer_key,
            CONSUMER_TENANT_ID: request.consumer_tenant_id,
        },
    }


def checkout_session(
    session_id: str,
    request: CheckoutRequest,
    customer_id: str,
    url: str,
    *,
    now: datetime,
    expires_after: int,
) -> dict[str, Any]:
    """A new, open checkout session for one item and tenant."""
    item = request.item
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": request.mode,
        "status": "open",
        "payment_status": "unpaid",
        "customer": customer_id,
        "subscription": None,
        "payment_intent": None,
        "amount_total": item.unit_amount,
        "currency": item.currency,
        "created": unix(now),
        "expires_at": unix(now + timedelta(seconds=expires_after)),
        "url": url,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": tenant_metadata(request),
        "item": {
            "code": item.code,
            "name": item.name,
            "description": item.description,
            "unit_amount": item.unit_amount,
            "currency": item.currency,
            "interval": item.interval,
            "interval_count": item.interval_count,
            "trial_days": item.trial_days,
            "price": item.provider_price_id,
        },
        "tenant": {
            "name": request.tenant_name,
            "legal_name": request.legal_name,
            "billing_email": request.billing_email,
        },
        "declines": 0,
    }


def _mode(value: Any) -> CheckoutMode:
    return "subscription" if value == "subscription" else "payment"


def _status(value: Any) -> CheckoutStatus:
    return cast(CheckoutStatus, value) if value in STATUSES else "open"


def provider_checkout_session(data: Mapping[str, Any]) -> ProviderCheckoutSession:
    return ProviderCheckoutSession(
        provider_checkout_session_id=str(data["id"]),
        url=data.get("url"),
        status=_status(data.get("status")),
        mode=_mode(data.get("mode")),
        payment_status=str(data.get("payment_status") or "unpaid"),
        provider_customer_id=data.get("customer"),
        provider_subscription_id=data.get("subscription"),
        provider_payment_id=data.get("payment_intent"),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        expires_at=from_unix(data.get("expires_at")),
        metadata=metadata_of(data.get("metadata")),
    )


def checkout_session_fact(data: Mapping[str, Any]) -> CheckoutSessionFact:
    session = provider_checkout_session(data)
    return CheckoutSessionFact(
        provider_checkout_session_id=session.provider_checkout_session_id,
        status=session.status,
        payment_status=session.payment_status,
        mode=session.mode,
        provider_customer_id=session.provider_customer_id,
        provider_subscription_id=session.provider_subscription_id,
        provider_payment_id=session.provider_payment_id,
        amount_total=session.amount_total,
        currency=session.currency,
        metadata=dict(session.metadata),
        observed_at=session.observed_at,
    )


def subscription(subscription_id: str, session: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The subscription a paid subscription checkout starts: trialing if the item has a trial."""
    item = session["item"]
    trial_days = int(item.get("trial_days") or 0)
    trial_end = now + timedelta(days=trial_days) if trial_days > 0 else None
    period_end = trial_end or add_interval(
        now, item.get("interval"), item.get("interval_count") or 1
    )
    return {
        "id": subscription_id,
        "object": "subscription",
        "status": "trialing" if trial_end else "active",
        "customer": session["customer"],
        "current_period_start": unix(now),
        "current_period_end": unix(period_end),
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
        "trial_end": unix(trial_end) if trial_end else None,
        "created": unix(now),
        "price": item.get("price"),
        "item": dict(item),
        "latest_invoice": None,
        "checkout_session": session["id"],
        "metadata": dict(session["metadata"]),
    }


def next_period(sub: Mapping[str, Any], now: datetime) -> tuple[float, float]:
    """The next period (unix start, end): it starts now, since the sandbox has no clock to
    wait on (a developer renews when they want to see a renewal), and always after the
    current period's start, so the service sees it move forward."""
    start = max(unix(now), round(float(sub["current_period_start"]) + 0.001, 3))
    item = sub.get("item") or {}
    begin = datetime.fromtimestamp(start, UTC)
    return start, unix(add_interval(begin, item.get("interval"), item.get("interval_count") or 1))


def subscription_fact(data: Mapping[str, Any], *, deleted: bool = False) -> SubscriptionFact:
    return SubscriptionFact(
        provider_subscription_id=str(data["id"]),
        provider_customer_id=data.get("customer"),
        status="canceled" if deleted else str(data.get("status") or "incomplete"),
        current_period_start=from_unix(data.get("current_period_start")),
        current_period_end=from_unix(data.get("current_period_end")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=from_unix(data.get("canceled_at")),
        trial_end=from_unix(data.get("trial_end")),
        ended_at=from_unix(data.get("ended_at")),
        provider_price_id=data.get("price"),
        metadata=metadata_of(data.get("metadata")),
    )


def invoice(
    invoice_id: str, sub: Mapping[str, Any], *, paid: bool, amount: int, now: datetime
) -> dict[str, Any]:
    """The subscription's invoice for its current period."""
    item = sub.get("item") or {}
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": "paid" if paid else "open",
        "subscription": sub["id"],
        "customer": sub.get("customer"),
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "currency": item.get("currency"),
        "period_start": sub["current_period_start"],
        "period_end": sub["current_period_end"],
        "created": unix(now),
        "metadata": dict(sub.get("metadata") or {}),
    }


def invoice_fact(data: Mapping[str, Any], *, paid: bool) -> InvoiceFact:
    return InvoiceFact(
        provider_subscription_id=data.get("subscription"),
        provider_customer_id=data.get("customer"),
        paid=paid,
        period_start=from_unix(data.get("period_start")),
        period_end=from_unix(data.get("period_end")),
        metadata=metadata_of(data.get("metadata")),
    )


PAYMENT_STATUSES = {"succeeded": "paid", "requires_payment_method": "failed"}


def payment_intent(
    payment_id: str, session: Mapping[str, Any], *, succeeded: bool, now: datetime
) -> dict[str, Any]:
    return {
        "id": payment_id,
        "object": "payment_intent",
        "status": "succeeded" if succeeded else "requires_payment_method",
        "amount": session.get("amount_total"),
        "currency": session.get("currency"),
        "customer": session.get("customer"),
        "checkout_session": session["id"],
        "created": unix(now),
        "metadata": dict(session.get("metadata") or {}),
    }


def payment_fact(data: Mapping[str, Any]) -> PaymentFact:
    return PaymentFact(
        provider_payment_id=str(data["id"]),
        status=PAYMENT_STATUSES.get(str(data.get("status")), "pending"),
        amount=data.get("amount"),
        currency=data.get("currency"),
        provider_checkout_session_id=data.get("checkout_session"),
        provider_customer_id=data.get("customer"),
        metadata=metadata_of(data.get("metadata")),
    )
