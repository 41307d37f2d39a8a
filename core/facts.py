"""Provider-neutral facts: what a provider's webhook or API object says happened.

A provider plugin parses its own payloads into these; the core services apply them to
our records. Each fact carries the metadata the checkout put on the provider object
(`consumerKey`, `consumerTenantId`, `pricingItemCode`) so every later event maps back
to its tenant, and the provider's own timestamp so a stale fact never rolls a record back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

MAX_EVENT_ID = 255
MAX_EVENT_TYPE = 120
MAX_API_VERSION = 40
MAX_PROVIDER_ID = 255
"""The columns an event's identity and a fact's provider ids are stored in."""
CONSUMER_KEY = "consumerKey"
CONSUMER_TENANT_ID = "consumerTenantId"
PRICING_ITEM_CODE = "pricingItemCode"
"""The metadata keys the checkout puts on every provider object it creates, and that every
fact carries back: the host and every provider plugin name them from here."""
TENANCY_LIMITS = {CONSUMER_KEY: 64, CONSUMER_TENANT_ID: 255, PRICING_ITEM_CODE: 64}
"""The metadata the checkout puts on provider objects, and the columns it is stored in."""


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
    payment_outcome: str | None = None
    """`paid` or `failed`: the provider's word on the delayed payment of a completed one-time
    checkout (Stripe's `checkout.session.async_payment_succeeded` / `_failed`). None: the
    session's `payment_status` decides. The core makes the purchase from it
    (`core.ingest.appliers.checkout`), so no plugin writes that rule again."""
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
    """The payment's amount (minor units)."""
    amount_refunded: int
    """Everything refunded of it so far (a total, not this refund's amount)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None
    """As on `SubscriptionFact`: set on an object read back (a refund's answer)."""


INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")


@dataclass(frozen=True)
class InvoiceFact:
    """A subscription's (or a tenant's) invoice changed: created, finalized, paid, failed,
    voided. `paid` says which of the two events products hear about it was: True for a
    paid invoice (a renewal), False for a failed payment, None for any other change."""

    provider_subscription_id: str | None
    provider_customer_id: str | None
    paid: bool | None
    period_start: datetime | None = None
    period_end: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    provider_invoice_id: str | None = None
    """None from a provider that does not report invoices as records: nothing is kept."""
    status: str | None = None
    """draft | open | paid | void | uncollectible"""
    number: str | None = None
    amount_due: int | None = None
    amount_paid: int | None = None
    currency: str | None = None
    hosted_invoice_url: str | None = None
    invoice_pdf_url: str | None = None
    provider_payment_id: str | None = None
    """The payment that pays it, when the provider names one: a dispute of that payment
    belongs to this invoice's subscription."""
    observed_at: datetime | None = None


DISPUTE_STATUSES = ("needs_response", "under_review", "won", "lost", "warning_closed")
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed"})


@dataclass(frozen=True)
class DisputeFact:
    """A payment was disputed (a chargeback), or its dispute moved on."""

    provider_dispute_id: str
    provider_payment_id: str | None
    """The disputed payment (Stripe: the payment intent)."""
    amount: int
    currency: str
    reason: str | None
    status: str
    """needs_response | under_review | won | lost | warning_closed (a provider's early
    warnings, `warning_needs_response` and `warning_under_review`, count as the first two)."""
    provider_charge_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None


Fact = CheckoutSessionFact | SubscriptionFact | PaymentFact | RefundFact | InvoiceFact | DisputeFact


@dataclass(frozen=True)
class WebhookEvent:
    """One verified provider event, parsed: its identity, its time and what it says."""

    provider_event_id: str
    type: str
    created_at: datetime
    facts: tuple[Fact, ...] = ()
    """Empty for an event type the service does not handle (stored and answered 200)."""
    api_version: str | None = None

    def __post_init__(self) -> None:
        """Refuse what no column could store, so a signed but unstorable event is a 400.

        `core.ingest.intake` turns the ValueError into 400 `webhook_payload_invalid`, before
        anything is stored: ids and types longer than their columns, and a NUL character
        (which PostgreSQL text refuses) in any string of the event or its facts.
        """
        for name, value, limit in (
            ("event id", self.provider_event_id, MAX_EVENT_ID),
            ("event type", self.type, MAX_EVENT_TYPE),
            ("api version", self.api_version, MAX_API_VERSION),
        ):
            if value is not None and len(value) > limit:
                raise ValueError(f"the {name} is longer than {limit} characters")
        for where, text in _strings(self):
            if "\x00" in text:
                raise ValueError(f"{where} contains a NUL character (U+0000)")
        for fact in self.facts:
            _check_fact(fact)


def _check_fact(fact: Fact) -> None:
    kind = type(fact).__name__
    for item in fields(fact):
        value = getattr(fact, item.name)
        too_long = isinstance(value, str) and len(value) > MAX_PROVIDER_ID
        if item.name.startswith("provider_") and too_long:
            raise ValueError(f"{kind}.{item.name} is longer than {MAX_PROVIDER_ID} characters")
    for key, limit in TENANCY_LIMITS.items():
        value = fact.metadata.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(f"{kind}.metadata.{key} is longer than {limit} characters")


def _strings(event: WebhookEvent) -> Iterator[tuple[str, str]]:
    """Every string of the event and its facts (metadata keys and values included)."""
    yield "the event id", event.provider_event_id
    yield "the event type", event.type
    if event.api_version is not None:
        yield "the api version", event.api_version
    for fact in event.facts:
        kind = type(fact).__name__
        for item in fields(fact):
            value: Any = getattr(fact, item.name)
            if isinstance(value, str):
                yield f"{kind}.{item.name}", value
            elif isinstance(value, Mapping):
                for key, inner in value.items():
                    yield f"{kind}.{item.name}", str(key)
                    if isinstance(inner, str):
                        yield f"{kind}.{item.name}.{key}", inner
