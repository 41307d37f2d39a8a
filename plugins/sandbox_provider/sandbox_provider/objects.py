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
    DISPUTE_STATUSES,
    INVOICE_STATUSES,
    PRICING_ITEM_CODE,
    CheckoutSessionFact,
    DisputeFact,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
)
from core.providers import (
    CheckoutItem,
    CheckoutMode,
    CheckoutRequest,
    CheckoutStatus,
    PreviewLine,
    Proration,
    ProviderCheckoutSession,
)
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


def item_data(item: CheckoutItem) -> dict[str, Any]:
    """What a checkout session and a subscription keep of the item (and its sandbox price)."""
    return {
        "code": item.code,
        "name": item.name,
        "description": item.description,
        "unit_amount": item.unit_amount,
        "currency": item.currency,
        "interval": item.interval,
        "interval_count": item.interval_count,
        "trial_days": item.trial_days,
        "price": item.provider_price_id,
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
        "item": item_data(item),
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
    invoice_id: str,
    sub: Mapping[str, Any],
    *,
    paid: bool,
    amount: int,
    now: datetime,
    number: str | None = None,
    billing_reason: str = "subscription_cycle",
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The subscription's invoice for its current period (Stripe's fields; the sandbox has
    no hosted invoice page nor PDF, so `hosted_invoice_url` and `invoice_pdf` are null;
    `payment_intent` is set when it is paid, by `actions.pay_invoice`)."""
    item = sub.get("item") or {}
    return {
        "id": invoice_id,
        "object": "invoice",
        "number": number,
        "status": "paid" if paid else "open",
        "billing_reason": billing_reason,
        "subscription": sub["id"],
        "customer": sub.get("customer"),
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "currency": item.get("currency"),
        "period_start": sub["current_period_start"],
        "period_end": sub["current_period_end"],
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "payment_intent": None,
        "lines": lines
        if lines is not None
        else [{"description": f"1 x {item.get('name')}", "amount": amount}],
        "created": unix(now),
        "metadata": dict(sub.get("metadata") or {}),
    }


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def invoice_fact(data: Mapping[str, Any], *, paid: bool | None) -> InvoiceFact:
    status = data.get("status")
    return InvoiceFact(
        provider_subscription_id=data.get("subscription"),
        provider_customer_id=data.get("customer"),
        paid=paid,
        period_start=from_unix(data.get("period_start")),
        period_end=from_unix(data.get("period_end")),
        metadata=metadata_of(data.get("metadata")),
        provider_invoice_id=str(data["id"]),
        status=status if status in INVOICE_STATUSES else None,
        number=_text(data.get("number")),
        amount_due=_whole(data.get("amount_due")),
        amount_paid=_whole(data.get("amount_paid")),
        currency=_text(data.get("currency")),
        hosted_invoice_url=_text(data.get("hosted_invoice_url")),
        invoice_pdf_url=_text(data.get("invoice_pdf")),
        provider_payment_id=_text(data.get("payment_intent")),
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


def invoice_payment_intent(
    payment_id: str, invoice: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The succeeded payment that pays a subscription's invoice (it can be disputed)."""
    return {
        "id": payment_id,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": invoice.get("amount_paid"),
        "currency": invoice.get("currency"),
        "customer": invoice.get("customer"),
        "invoice": invoice["id"],
        "checkout_session": None,
        "created": unix(now),
        "metadata": dict(invoice.get("metadata") or {}),
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


def charge_id(payment_id: str) -> str:
    """A payment intent's one charge: `pi_sbx_<hex>` is charged by `ch_sbx_<hex>`."""
    return "ch_" + payment_id.removeprefix("pi_")


def charge(intent: Mapping[str, Any]) -> dict[str, Any]:
    """The payment intent's charge, as Stripe's `charge.*` events carry it."""
    amount = int(intent.get("amount") or 0)
    refunded = int(intent.get("amount_refunded") or 0)
    return {
        "id": charge_id(str(intent["id"])),
        "object": "charge",
        "payment_intent": intent["id"],
        "customer": intent.get("customer"),
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded >= amount > 0,
        "currency": intent.get("currency"),
        "disputed": bool(intent.get("dispute")),
        "refunds": {"object": "list", "data": list(intent.get("refunds") or [])},
        "metadata": dict(intent.get("metadata") or {}),
    }


def refund_fact(data: Mapping[str, Any]) -> RefundFact:
    """A `charge.refunded` charge: the payment's amount and all that is refunded of it."""
    return RefundFact(
        provider_payment_id=str(data["payment_intent"]),
        amount=int(data["amount"]),
        amount_refunded=int(data["amount_refunded"]),
        metadata=metadata_of(data.get("metadata")),
    )


DISPUTE_REASONS = ("fraudulent", "duplicate", "product_not_received", "general")


def dispute(
    dispute_id: str, intent: Mapping[str, Any], *, status: str, reason: str, now: datetime
) -> dict[str, Any]:
    """A dispute (chargeback) of what is left of the payment (its amount less refunds)."""
    amount = int(intent.get("amount") or 0) - int(intent.get("amount_refunded") or 0)
    return {
        "id": dispute_id,
        "object": "dispute",
        "status": status,
        "reason": reason,
        "amount": amount,
        "currency": intent.get("currency"),
        "charge": charge_id(str(intent["id"])),
        "payment_intent": intent["id"],
        "created": unix(now),
        "metadata": dict(intent.get("metadata") or {}),
    }


WARNINGS = {"warning_needs_response": "needs_response", "warning_under_review": "under_review"}


def dispute_fact(data: Mapping[str, Any]) -> DisputeFact:
    raw = str(data.get("status") or "")
    status = WARNINGS.get(raw, raw)
    if status not in DISPUTE_STATUSES:
        raise ValueError(f"unknown dispute status {raw!r}")
    return DisputeFact(
        provider_dispute_id=str(data["id"]),
        provider_payment_id=_text(data.get("payment_intent")),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        reason=_text(data.get("reason")),
        status=status,
        provider_charge_id=_text(data.get("charge")),
        metadata=metadata_of(data.get("metadata")),
    )


def portal_session(
    session_id: str,
    *,
    customer_id: str,
    return_url: str,
    url: str,
    metadata: Mapping[str, str],
    now: datetime,
    expires_after: int,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "customer": customer_id,
        "return_url": return_url,
        "url": url,
        "created": unix(now),
        "expires_at": unix(now + timedelta(seconds=expires_after)),
        "metadata": dict(metadata),
    }


def _half_up(value: float) -> int:
    """Minor units rounded half away from zero (what an invoice line shows)."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def remaining_fraction(sub: Mapping[str, Any], now: datetime) -> float:
    """How much of the current period is still to come at `now` (0 to 1)."""
    start = float(sub.get("current_period_start") or 0)
    end = float(sub.get("current_period_end") or 0)
    if end <= start:
        return 0.0
    return min(max((end - unix(now)) / (end - start), 0.0), 1.0)


def proration_lines(
    sub: Mapping[str, Any], new_item: Mapping[str, Any], proration: Proration, now: datetime
) -> tuple[PreviewLine, ...]:
    """The lines a change at `now` invoices: the unused time of the old item (a credit) and
    the remaining time of the new one, each its price times the period still to come. None
    with `none`, and none during a trial (nothing is charged until it ends), as at Stripe."""
    if proration == "none" or sub.get("status") == "trialing":
        return ()
    old = sub.get("item") or {}
    fraction = remaining_fraction(sub, now)
    return (
        PreviewLine(
            description=f"Unused time on {old.get('name')}",
            amount=-_half_up(int(old.get("unit_amount") or 0) * fraction),
        ),
        PreviewLine(
            description=f"Remaining time on {new_item.get('name')}",
            amount=_half_up(int(new_item.get("unit_amount") or 0) * fraction),
        ),
    )


def amount_due(lines: tuple[PreviewLine, ...]) -> int:
    """What the lines ask to be paid now: their sum, never below 0 (a downgrade's credit is
    not paid out; the sandbox keeps no customer balance to carry it to the next invoice)."""
    return max(sum(line.amount for line in lines), 0)
