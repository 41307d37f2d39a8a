"""Stripe objects (plain dicts, from the API or a webhook) as provider-neutral facts.

The same functions read what `retrieve` returns and what webhooks carry, so a
refreshed checkout and a webhook about it can never disagree. Both old and new API
versions are read: since 2025-03-31 a subscription's period lives on its items and an
invoice names its subscription under `parent.subscription_details` and its payment
intent under `payments` (before: `subscription` and `payment_intent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from core.facts import (
    INVOICE_STATUSES,
    DisputeFact,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
)
from core.timeutil import from_unix
from stripe_provider.checkout import object_id
from stripe_provider.metadata import metadata_of

PAYMENT_STATUSES = {
    "succeeded": "paid",
    "requires_payment_method": "failed",
    "canceled": "failed",
}


def _first(items: Any) -> Mapping[str, Any]:
    if isinstance(items, Mapping):
        data = items.get("data")
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            return data[0]
    return {}


def _period(data: Mapping[str, Any], item: Mapping[str, Any], name: str) -> Any:
    value = item.get(name)
    return value if value is not None else data.get(name)


SUBSCRIPTION_MOMENTS = (
    "created",
    "start_date",
    "current_period_start",
    "trial_start",
    "canceled_at",
    "ended_at",
)
"""A subscription's own timestamps that lie in the past when it is read; the latest is when
its state last moved, as far as the object tells (Stripe objects carry no `updated`).
`trial_end`, `cancel_at` and the period's end are left out: they may lie ahead."""


def latest_moment(values: Iterable[Any]) -> datetime | None:
    """The latest of some unix timestamps (None when none is a number)."""
    found = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return from_unix(max(found)) if found else None


def subscription_moment(data: Mapping[str, Any]) -> datetime | None:
    """The provider's time of a subscription's state: the latest of its past timestamps."""
    item = _first(data.get("items"))
    return latest_moment(
        _period(data, item, name) if name == "current_period_start" else data.get(name)
        for name in SUBSCRIPTION_MOMENTS
    )


def payment_moment(data: Mapping[str, Any]) -> datetime | None:
    """A payment intent's: its creation, cancellation, or its latest charge (when expanded)."""
    charge = data.get("latest_charge")
    charged = charge.get("created") if isinstance(charge, Mapping) else None
    return latest_moment((data.get("created"), data.get("canceled_at"), charged))


def subscription_fact(data: Mapping[str, Any], *, deleted: bool = False) -> SubscriptionFact:
    """A subscription; its period from its first item (new APIs) or the top level (old)."""
    item = _first(data.get("items"))
    price = item.get("price")
    return SubscriptionFact(
        provider_subscription_id=str(data["id"]),
        provider_customer_id=object_id(data.get("customer")),
        status="canceled" if deleted else str(data.get("status") or "incomplete"),
        current_period_start=from_unix(_period(data, item, "current_period_start")),
        current_period_end=from_unix(_period(data, item, "current_period_end")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=from_unix(data.get("canceled_at")),
        trial_end=from_unix(data.get("trial_end")),
        ended_at=from_unix(data.get("ended_at")),
        provider_price_id=object_id(price),
        metadata=metadata_of(data.get("metadata")),
    )


def payment_status(stripe_status: Any) -> str:
    """succeeded: paid; requires_payment_method or canceled: failed; anything else: pending."""
    return PAYMENT_STATUSES.get(str(stripe_status), "pending")


def payment_fact(
    data: Mapping[str, Any], *, provider_checkout_session_id: str | None = None
) -> PaymentFact:
    """A payment intent."""
    return PaymentFact(
        provider_payment_id=str(data["id"]),
        status=payment_status(data.get("status")),
        amount=data.get("amount"),
        currency=data.get("currency"),
        provider_checkout_session_id=provider_checkout_session_id,
        provider_customer_id=object_id(data.get("customer")),
        metadata=metadata_of(data.get("metadata")),
    )


def _invoice_subscription(data: Mapping[str, Any]) -> str | None:
    found = object_id(data.get("subscription"))
    if found:
        return found
    parent = data.get("parent")
    if isinstance(parent, Mapping):
        details = parent.get("subscription_details")
        if isinstance(details, Mapping):
            return object_id(details.get("subscription"))
    return None


def _invoice_metadata(data: Mapping[str, Any]) -> dict[str, str]:
    """The subscription's metadata as the invoice copies it (new APIs), else the invoice's."""
    merged = metadata_of(data.get("metadata"))
    details = data.get("subscription_details")
    parent = data.get("parent")
    if isinstance(parent, Mapping) and isinstance(parent.get("subscription_details"), Mapping):
        details = parent["subscription_details"]
    if isinstance(details, Mapping):
        merged = {**metadata_of(details.get("metadata")), **merged}
    line = _first(data.get("lines"))
    return {**metadata_of(line.get("metadata")), **merged}


def _invoice_payment(data: Mapping[str, Any]) -> str | None:
    """The payment intent that pays an invoice: `payment_intent` (old APIs), or the first of
    its `payments` (since 2025-03-31, when the event or the read includes them)."""
    found = object_id(data.get("payment_intent"))
    if found:
        return found
    payment = _first(data.get("payments")).get("payment")
    return object_id(payment.get("payment_intent")) if isinstance(payment, Mapping) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _amount(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def invoice_fact(data: Mapping[str, Any], *, paid: bool | None) -> InvoiceFact:
    """An invoice; the period is its subscription line's (the invoice's own is the last one).

    `paid` is which event it came with: True for `invoice.paid`, False for
    `invoice.payment_failed`, None for any other change. A status Stripe may add later
    is None (the host keeps the one it has).
    """
    line = _first(data.get("lines"))
    found = line.get("period")
    period: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    status = data.get("status")
    currency = _text(data.get("currency"))
    return InvoiceFact(
        provider_subscription_id=_invoice_subscription(data),
        provider_customer_id=object_id(data.get("customer")),
        paid=paid,
        period_start=from_unix(period.get("start")),
        period_end=from_unix(period.get("end")),
        metadata=_invoice_metadata(data),
        provider_invoice_id=_text(data.get("id")),
        status=status if status in INVOICE_STATUSES else None,
        number=_text(data.get("number")),
        amount_due=_amount(data.get("amount_due")),
        amount_paid=_amount(data.get("amount_paid")),
        currency=currency.lower() if currency else None,
        hosted_invoice_url=_text(data.get("hosted_invoice_url")),
        invoice_pdf_url=_text(data.get("invoice_pdf")),
        provider_payment_id=_invoice_payment(data),
    )


DISPUTE_STATUSES = {
    "warning_needs_response": "needs_response",
    "warning_under_review": "under_review",
}
"""Stripe's early warnings (an inquiry before a chargeback) count as the first two steps."""


def dispute_fact(data: Mapping[str, Any]) -> DisputeFact:
    """A dispute of a charge, named by its payment intent (which the host knows)."""
    status = str(data.get("status") or "needs_response")
    reason = data.get("reason")
    return DisputeFact(
        provider_dispute_id=str(data["id"]),
        provider_payment_id=object_id(data.get("payment_intent")),
        amount=int(data.get("amount") or 0),
        currency=str(data.get("currency") or "").lower(),
        reason=reason if isinstance(reason, str) else None,
        status=DISPUTE_STATUSES.get(status, status),
        provider_charge_id=object_id(data.get("charge")),
        metadata=metadata_of(data.get("metadata")),
    )


def refund_fact(charge: Mapping[str, Any]) -> RefundFact | None:
    """A refunded charge, as a refund of its payment intent (None without one)."""
    payment = object_id(charge.get("payment_intent"))
    if payment is None:
        return None
    return RefundFact(
        provider_payment_id=payment,
        amount=int(charge.get("amount") or 0),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        metadata=metadata_of(charge.get("metadata")),
    )
