"""Provider-neutral facts: what a provider's webhook or API object says happened.

A provider plugin parses its own payloads into these; the core services apply them to
our records. Each fact carries the metadata the checkout put on the provider object
(`consumerKey`, `consumerTenantId`, `pricingItemCode`) so every later event maps back
to its tenant, and the provider's own timestamp so a stale fact never rolls a record back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CheckoutSessionFact:
    provider_checkout_session_id: str
    status: str
    """open | complete | expired"""
    payment_status: str
    mode: str
    provider_customer_id: str | None = None
    provider_subscription_id: str | None = None
    provider_payment_id: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None
    """The provider's own time of the object's state, on an object read back from the
    provider (a refresh, a provider read): what orders it against events, on the provider's
    clock. None on a webhook's facts, which the event's own time orders."""


@dataclass(frozen=True)
class SubscriptionFact:
    provider_subscription_id: str
    provider_customer_id: str | None
    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    ended_at: datetime | None
    provider_price_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None
    """The provider's own time of the object's state, on an object read back from the
    provider (a refresh, a provider read): what orders it against events, on the provider's
    clock. None on a webhook's facts, which the event's own time orders."""


@dataclass(frozen=True)
class PaymentFact:
    """A one-time payment (a Stripe payment intent) reached a state."""

    provider_payment_id: str
    status: str
    """pending | paid | failed"""
    amount: int | None
    currency: str | None
    provider_checkout_session_id: str | None = None
    provider_customer_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None
    """The provider's own time of the object's state, on an object read back from the
    provider (a refresh, a provider read): what orders it against events, on the provider's
    clock. None on a webhook's facts, which the event's own time orders."""


@dataclass(frozen=True)
class RefundFact:
    """Some or all of a one-time payment was refunded."""

    provider_payment_id: str
    amount: int
    amount_refunded: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceFact:
    """A subscription's invoice was paid (renewal) or its payment failed."""

    provider_subscription_id: str | None
    provider_customer_id: str | None
    paid: bool
    period_start: datetime | None = None
    period_end: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


Fact = CheckoutSessionFact | SubscriptionFact | PaymentFact | RefundFact | InvoiceFact


@dataclass(frozen=True)
class WebhookEvent:
    """One verified provider event, parsed: its identity, its time and what it says."""

    provider_event_id: str
    type: str
    created_at: datetime
    facts: tuple[Fact, ...] = ()
    """Empty for an event type the service does not handle (stored and answered 200)."""
    api_version: str | None = None
