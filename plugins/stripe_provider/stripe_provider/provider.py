"""The Stripe provider: one instance per provider key mapped to plugin `stripe`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from core.config import Settings
from core.errors import ProviderNotConfigured
from core.facts import PaymentFact, SubscriptionFact, WebhookEvent
from core.providers import (
    CAPABILITY_PAYMENT,
    CAPABILITY_SUBSCRIPTION,
    CAPABILITY_WEBHOOKS,
    CheckoutRequest,
    PaymentProvider,
    ProviderCheckoutSession,
)


class StripeSettings(BaseModel):
    """`[providers.<key>]` with `plugin = "stripe"` in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    secret_key: str | None = None
    """`STRIPE_SECRET_KEY`; unset: the provider is listed but not configured."""
    webhook_secrets: list[str] = []
    """`STRIPE_WEBHOOK_SECRET`, comma-separated: every secret is tried (rotation)."""
    api_base: str | None = None
    """`STRIPE_API_BASE`: aim the SDK at a stand-in Stripe (tests, local stacks)."""
    webhook_tolerance: int = 300
    """Seconds a webhook's signed timestamp may be old."""
    price_sync: bool = False
    """Create a Stripe Product and Price for items that have none."""

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class StripeProvider(PaymentProvider):
    def __init__(self, key: str, settings: StripeSettings) -> None:
        super().__init__(key, "stripe", "Stripe")
        self.settings = settings

    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> StripeProvider:
        return cls(key, settings)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({CAPABILITY_SUBSCRIPTION, CAPABILITY_PAYMENT, CAPABILITY_WEBHOOKS})

    @property
    def configured(self) -> bool:
        return bool(self.settings.secret_key)

    def _not_ready(self) -> ProviderNotConfigured:
        return ProviderNotConfigured(
            f"provider '{self.key}' is not configured: set its secret_key (STRIPE_SECRET_KEY)"
        )

    async def ensure_customer(self, request: CheckoutRequest) -> str:
        raise self._not_ready()

    async def create_checkout_session(
        self, request: CheckoutRequest, provider_customer_id: str
    ) -> ProviderCheckoutSession:
        raise self._not_ready()

    async def retrieve_checkout_session(
        self, provider_checkout_session_id: str
    ) -> ProviderCheckoutSession:
        raise self._not_ready()

    async def retrieve_subscription(self, provider_subscription_id: str) -> SubscriptionFact:
        raise self._not_ready()

    async def retrieve_payment(self, provider_payment_id: str) -> PaymentFact:
        raise self._not_ready()

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        raise self._not_ready()

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        raise self._not_ready()
