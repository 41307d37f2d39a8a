"""The Stripe provider: one instance per provider key mapped to plugin `stripe`.

It holds one SDK client (built on first use, in the serving event loop) and turns
each host call into Stripe calls: every write with a deterministic idempotency key,
every call through the retry policy of `client.py`, every failure into a 502.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import aiohttp
import stripe

from core.config import Settings
from core.errors import ProviderNotConfigured
from core.facts import PaymentFact, SubscriptionFact, WebhookEvent
from core.providers import (
    CAPABILITY_PAYMENT,
    CAPABILITY_SUBSCRIPTION,
    CAPABILITY_WEBHOOKS,
    CheckoutItem,
    CheckoutRequest,
    PaymentProvider,
    PriceReference,
    ProviderCheckoutSession,
)
from core.timeutil import from_unix
from stripe_provider import idempotency
from stripe_provider.checkout import checkout_session, session_params
from stripe_provider.client import build_client, with_retries
from stripe_provider.customers import customer_params
from stripe_provider.errors import provider_error
from stripe_provider.objects import (
    payment_fact,
    payment_moment,
    subscription_fact,
    subscription_moment,
)
from stripe_provider.prices import price_params, product_params
from stripe_provider.settings import StripeSettings
from stripe_provider.webhooks import parse_event, verify_signature

__all__ = ["StripeProvider", "StripeSettings"]

log = logging.getLogger("platform_payments.stripe")

T = TypeVar("T")


class StripeProvider(PaymentProvider):
    """What it retrieves carries `observed_at`, the object's own time (`objects.py`)."""

    def __init__(self, key: str, settings: StripeSettings) -> None:
        super().__init__(key, "stripe", "Stripe")
        self.settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: stripe.AIOHTTPClient | None = None

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

    def _stripe(self) -> stripe.StripeClient:
        if not self.configured:
            raise self._not_ready()
        if self._client is None:
            self._client, self._http = build_client(self.settings)
        return self._client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]
        self._client = self._http = None

    async def _call(
        self, what: str, call: Callable[[], Awaitable[T]], *, passthrough: bool = False
    ) -> T:
        """One Stripe call under the retry policy; any failure becomes a 502.

        With `passthrough`, Stripe's `IdempotencyError` is raised as it is, for the caller
        to handle.
        """
        try:
            return await with_retries(
                call,
                retries=self.settings.max_network_retries,
                initial_delay=self.settings.retry_initial_delay,
                what=what,
            )
        except (stripe.StripeError, aiohttp.ClientError, OSError, TimeoutError) as error:
            if passthrough and isinstance(error, stripe.IdempotencyError):
                raise
            raise provider_error(error, self.key) from None

    async def ensure_customer(self, request: CheckoutRequest) -> str:
        """Create the tenant's customer under a key derived from the tenant alone.

        Should Stripe refuse that key because it was used with other details (a first
        attempt reached Stripe, then we died before storing the customer, and the tenant's
        name or email changed since), the customer is made under a key that also covers
        the details, instead of failing this tenant's checkouts for Stripe's 24 hours.
        """
        client = self._stripe()
        params = customer_params(request)

        def create(key: str) -> Callable[[], Awaitable[stripe.Customer]]:
            return lambda: client.v1.customers.create_async(params, {"idempotency_key": key})

        key = idempotency.customer_key(self.key, request.consumer_key, request.consumer_tenant_id)
        try:
            customer = await self._call("customer create", create(key), passthrough=True)
        except stripe.IdempotencyError:
            detailed = idempotency.customer_details_key(key, params)
            customer = await self._call("customer create", create(detailed))
        return customer.id

    async def create_checkout_session(
        self, request: CheckoutRequest, provider_customer_id: str
    ) -> ProviderCheckoutSession:
        """Open the session; a customer deleted at Stripe is replaced once, then used.

        The answer names the customer it was opened for, so the host can store the
        replacement in place of the deleted one.
        """
        try:
            return await self._open_session(request, provider_customer_id, request.idempotency_key)
        except stripe.InvalidRequestError as error:
            if error.code != "resource_missing" or error.param != "customer":
                raise provider_error(error, self.key) from None
        log.warning(
            "customer %s of provider %s is gone at Stripe; creating a replacement",
            provider_customer_id,
            self.key,
        )
        client = self._stripe()
        params = customer_params(request)
        replacement_key = idempotency.replacement_customer_key(
            self.key, request.consumer_key, request.consumer_tenant_id, provider_customer_id
        )
        customer = await self._call(
            "customer create",
            lambda: client.v1.customers.create_async(params, {"idempotency_key": replacement_key}),
        )
        key = idempotency.derived_key("checkout", request.idempotency_key, customer.id)
        try:
            return await self._open_session(request, customer.id, key)
        except stripe.StripeError as error:
            raise provider_error(error, self.key) from None

    async def _open_session(
        self, request: CheckoutRequest, provider_customer_id: str, key: str
    ) -> ProviderCheckoutSession:
        """Create the session; a missing customer is raised as Stripe's error, the rest 502."""
        client = self._stripe()
        params = session_params(request, provider_customer_id)
        try:
            session = await with_retries(
                lambda: client.v1.checkout.sessions.create_async(params, {"idempotency_key": key}),
                retries=self.settings.max_network_retries,
                initial_delay=self.settings.retry_initial_delay,
                what="checkout session create",
            )
        except stripe.InvalidRequestError:
            raise
        except (stripe.StripeError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise provider_error(error, self.key) from None
        return checkout_session(session.to_dict())

    async def retrieve_checkout_session(
        self, provider_checkout_session_id: str
    ) -> ProviderCheckoutSession:
        client = self._stripe()
        session = await self._call(
            "checkout session retrieve",
            lambda: client.v1.checkout.sessions.retrieve_async(provider_checkout_session_id),
        )
        data = session.to_dict()
        return replace(checkout_session(data), observed_at=from_unix(data.get("created")))

    async def retrieve_subscription(self, provider_subscription_id: str) -> SubscriptionFact:
        client = self._stripe()
        subscription = await self._call(
            "subscription retrieve",
            lambda: client.v1.subscriptions.retrieve_async(provider_subscription_id),
        )
        data = subscription.to_dict()
        return replace(subscription_fact(data), observed_at=subscription_moment(data))

    async def retrieve_payment(self, provider_payment_id: str) -> PaymentFact:
        """The intent with its latest charge, whose time is when it was paid."""
        client = self._stripe()
        intent = await self._call(
            "payment intent retrieve",
            lambda: client.v1.payment_intents.retrieve_async(
                provider_payment_id, {"expand": ["latest_charge"]}
            ),
        )
        data = intent.to_dict()
        return replace(payment_fact(data), observed_at=payment_moment(data))

    async def sync_price(self, item: CheckoutItem) -> PriceReference | None:
        """With `price_sync` on: a Product and a Price for this version of the item's price."""
        if not self.settings.price_sync:
            return None
        client = self._stripe()
        version = idempotency.price_version(self.key, item)
        product_key = idempotency.product_key(version)
        product = await self._call(
            "product create",
            lambda: client.v1.products.create_async(
                product_params(item), {"idempotency_key": product_key}
            ),
        )
        price_key = idempotency.price_key(version)
        price = await self._call(
            "price create",
            lambda: client.v1.prices.create_async(
                price_params(item, product.id), {"idempotency_key": price_key}
            ),
        )
        return PriceReference(provider_price_id=price.id, provider_product_id=product.id)

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        verify_signature(
            body, headers, self.settings.webhook_secrets, self.settings.webhook_tolerance, self.key
        )

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        return parse_event(body)
