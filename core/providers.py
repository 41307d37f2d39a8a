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
from core.facts import PaymentFact, SubscriptionFact, WebhookEvent

CheckoutMode = Literal["subscription", "payment"]
CheckoutStatus = Literal["open", "complete", "expired"]

CAPABILITY_SUBSCRIPTION = "checkout.subscription"
CAPABILITY_PAYMENT = "checkout.payment"
CAPABILITY_WEBHOOKS = "webhooks"
CAPABILITY_ORDER = (CAPABILITY_SUBSCRIPTION, CAPABILITY_PAYMENT, CAPABILITY_WEBHOOKS)


def ordered_capabilities(capabilities: frozenset[str]) -> list[str]:
    """The contract's order (subscription, payment, webhooks), then any others by name."""
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

    @abstractmethod
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Check the signature of a raw webhook body; raise `WebhookSignatureInvalid` if bad."""

    @abstractmethod
    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """Turn a verified webhook body into provider-neutral facts."""

    async def sync_price(self, item: CheckoutItem) -> PriceReference | None:
        """Create the item's price at the provider when price sync is on; None when it is off."""
        return None


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
