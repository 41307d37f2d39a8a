"""The typed interface every payment provider plugin implements.

The host speaks only these types: a provider plugin turns them into its SDK's calls and
turns its provider's objects and webhooks back into them. Nothing here imports an SDK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from core.config import Settings
from core.errors import CapabilityUnsupported
from core.facts import Fact, PaymentFact, RefundFact, SubscriptionFact, WebhookEvent

CheckoutMode = Literal["subscription", "payment"]
CheckoutStatus = Literal["open", "complete", "expired"]

CAPABILITY_SUBSCRIPTION = "checkout.subscription"
CAPABILITY_PAYMENT = "checkout.payment"
CAPABILITY_WEBHOOKS = "webhooks"
CAPABILITY_CANCEL = "subscription.cancel"
CAPABILITY_RESUME = "subscription.resume"
CAPABILITY_CHANGE = "subscription.change"
CAPABILITY_PORTAL = "portal"
CAPABILITY_REFUND = "refund"
CAPABILITY_INVOICES = "invoices"
"""The provider reports invoices (as `InvoiceFact`s, from its webhooks)."""
CAPABILITY_DISPUTES = "disputes"
"""The provider reports disputes (as `DisputeFact`s, from its webhooks)."""
CAPABILITY_ORDER = (
    CAPABILITY_SUBSCRIPTION,
    CAPABILITY_PAYMENT,
    CAPABILITY_WEBHOOKS,
    CAPABILITY_CANCEL,
    CAPABILITY_RESUME,
    CAPABILITY_CHANGE,
    CAPABILITY_PORTAL,
    CAPABILITY_REFUND,
    CAPABILITY_INVOICES,
    CAPABILITY_DISPUTES,
)
MANAGING_CAPABILITIES = frozenset(CAPABILITY_ORDER[3:])
"""Everything a tenant does after checkout (the contract's "Managing what was bought")."""
ALL_CAPABILITIES = frozenset(CAPABILITY_ORDER)
"""Every capability the contract names (a provider that does it all, as Stripe)."""

Proration = Literal["create_prorations", "none", "always_invoice"]
RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]


def ordered_capabilities(capabilities: frozenset[str]) -> list[str]:
    """The contract's order (checkout, webhooks, then managing), then any others by name."""
    known = [c for c in CAPABILITY_ORDER if c in capabilities]
    return known + sorted(capabilities - set(CAPABILITY_ORDER))


@dataclass(frozen=True)
class CheckoutItem:
    """The pricing item being bought, with this provider's price reference if it has one."""

    code: str
    name: str
    description: str | None
    kind: Literal["recurring", "one_time"]
    unit_amount: int
    currency: str
    interval: str | None
    interval_count: int
    trial_days: int
    provider_price_id: str | None
    provider_product_id: str | None


@dataclass(frozen=True)
class CheckoutRequest:
    """Everything a provider needs to open a hosted checkout for one tenant."""

    item: CheckoutItem
    consumer_key: str
    consumer_tenant_id: str
    tenant_name: str | None
    legal_name: str | None
    billing_email: str | None
    success_url: str
    cancel_url: str
    provider_customer_id: str | None
    """The tenant's customer at this provider, when one was already created."""
    idempotency_key: str
    """Stable for one logical request, so a retried request never makes two sessions."""
    allow_promotion_codes: bool = False
    """Let the buyer enter a promotion code on the hosted page (providers that have them)."""
    automatic_tax: bool = False
    """Let the provider compute tax from the buyer's address (providers that can)."""

    @property
    def mode(self) -> CheckoutMode:
        return "subscription" if self.item.kind == "recurring" else "payment"


@dataclass(frozen=True)
class ProviderCheckoutSession:
    """A checkout session as the provider reports it."""

    provider_checkout_session_id: str
    url: str | None
    status: CheckoutStatus
    mode: CheckoutMode
    payment_status: str
    provider_customer_id: str | None = None
    provider_subscription_id: str | None = None
    provider_payment_id: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    expires_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    observed_at: datetime | None = None
    """The provider's own time of the session's state (Stripe: its `created`); see
    `core.facts.CheckoutSessionFact.observed_at`."""


@dataclass(frozen=True)
class SubscriptionChange:
    """Move one subscription to another recurring item (its price at this provider)."""

    provider_subscription_id: str
    item: CheckoutItem
    """The new item, with this provider's price (`provider_price_id` is set)."""
    consumer_key: str
    consumer_tenant_id: str
    proration: Proration
    idempotency_key: str
    """Stable for one logical request (the caller's `Idempotency-Key` and what it asks)."""


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int
    """Minor units; negative for a credit (the unused time of the old plan)."""


@dataclass(frozen=True)
class ChangePreview:
    """What a change would cost now, as the provider computes it; nothing is changed."""

    amount_due: int
    currency: str
    proration_date: datetime
    lines: tuple[PreviewLine, ...]


@dataclass(frozen=True)
class PortalRequest:
    provider_customer_id: str
    return_url: str
    consumer_key: str
    consumer_tenant_id: str
    idempotency_key: str


@dataclass(frozen=True)
class PortalSession:
    """The provider's hosted page where the tenant manages its card, invoices and plan."""

    url: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RefundRequest:
    provider_payment_id: str
    amount: int
    """Minor units, at most what is left; the host has checked it against its record."""
    reason: RefundReason | None
    idempotency_key: str


@dataclass(frozen=True)
class PriceReference:
    """A provider's price (and product) for one pricing item."""

    provider_price_id: str
    provider_product_id: str | None


class PaymentProvider(ABC):
    """One configured provider key (for example `stripe`, or `stripe_eu` for a second account)."""

    def __init__(self, key: str, plugin_name: str, display_name: str) -> None:
        self.key = key
        self.plugin_name = plugin_name
        self.display_name = display_name

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """What this provider can do: `checkout.subscription`, `checkout.payment`, `webhooks`."""

    @property
    @abstractmethod
    def configured(self) -> bool:
        """True when it has what it needs (keys, secrets) to talk to its provider."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open clients; called once when the service starts."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close clients; called once when the service stops."""

    @abstractmethod
    async def ensure_customer(self, request: CheckoutRequest) -> str:
        """Create the tenant's customer at the provider and return its id (idempotently)."""

    @abstractmethod
    async def create_checkout_session(
        self, request: CheckoutRequest, provider_customer_id: str
    ) -> ProviderCheckoutSession:
        """Open a hosted checkout; raise `ProviderError` with the provider's message on failure."""

    @abstractmethod
    async def retrieve_checkout_session(
        self, provider_checkout_session_id: str
    ) -> ProviderCheckoutSession:
        """Read a checkout session back from the provider."""

    @abstractmethod
    async def retrieve_subscription(self, provider_subscription_id: str) -> SubscriptionFact:
        """Read a subscription back from the provider (checkout refresh, provider reads),
        with its `observed_at`: the provider's own time of the state it reports."""

    @abstractmethod
    async def retrieve_payment(self, provider_payment_id: str) -> PaymentFact:
        """Read a one-time payment back from the provider (checkout refresh), with its
        `observed_at`."""

    async def read_payment(self, provider_payment_id: str) -> tuple[Fact, ...]:
        """A payment as reconcile re-reads it: its state (`retrieve_payment`), and the
        refunded total (a `RefundFact`) when the provider reports one; a provider whose
        payments can be refunded overrides this. An object the provider does not have
        raises `core.errors.ProviderObjectMissing`, as every retrieve should."""
        return (await self.retrieve_payment(provider_payment_id),)

    @abstractmethod
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Check the signature of a raw webhook body; raise `WebhookSignatureInvalid` if bad."""

    @abstractmethod
    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """Turn a verified webhook body into provider-neutral facts."""

    async def sync_price(self, item: CheckoutItem) -> PriceReference | None:
        """Create the item's price at the provider when price sync is on; None when it is off."""
        return None

    # -- managing what was bought -------------------------------------------------------
    #
    # Each action returns the provider's object after the action, as a fact with its
    # `observed_at` (the provider's time of that state; None lets the host use its own
    # clock at the answer). The host applies it through the webhook path, so the answer
    # shows the new state at once and the provider's webhook that follows changes nothing.
    # A provider without the capability keeps these defaults: 422 `capability_unsupported`.
    # A provider failure raises `ProviderError` (502) and must have changed nothing.

    def unsupported(self, capability: str) -> CapabilityUnsupported:
        return CapabilityUnsupported(f"provider '{self.key}' does not support {capability}")

    async def cancel_subscription(
        self, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionFact:
        """Cancel at the end of the period (`cancel_at_period_end`) or now (`canceled`)."""
        raise self.unsupported(CAPABILITY_CANCEL)

    async def resume_subscription(
        self, provider_subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionFact:
        """Undo a pending cancel at the end of the period."""
        raise self.unsupported(CAPABILITY_RESUME)

    async def change_subscription(self, change: SubscriptionChange) -> SubscriptionFact:
        """Move the subscription to the new item's price with the proration asked for; the
        fact's `provider_price_id` is the new price."""
        raise self.unsupported(CAPABILITY_CHANGE)

    async def preview_change(self, change: SubscriptionChange) -> ChangePreview:
        """What the change would be invoiced now; changes nothing at the provider."""
        raise self.unsupported(CAPABILITY_CHANGE)

    async def create_portal_session(self, request: PortalRequest) -> PortalSession:
        """A hosted page for the tenant's customer (card, invoices, cancel)."""
        raise self.unsupported(CAPABILITY_PORTAL)

    async def refund_payment(self, request: RefundRequest) -> RefundFact:
        """Refund some of a one-time payment; the fact has the payment's refunded total."""
        raise self.unsupported(CAPABILITY_REFUND)


@dataclass(frozen=True)
class ProviderPlugin:
    """What a provider plugin registers: a name for `plugins.toml` and a factory.

    `settings` is a pydantic model of the plugin's settings in `plugins.toml`; a required
    field that is missing stops startup with a clear message.
    """

    name: str
    display_name: str
    settings: type[BaseModel]
    build: Callable[[str, Any, Settings], PaymentProvider]
    """`build(provider_key, validated_settings, service_settings)`."""
