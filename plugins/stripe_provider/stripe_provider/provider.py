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
from core.errors import (
    ConfigurationError,
    ProviderError,
    ProviderNotConfigured,
    ProviderObjectMissing,
)
from core.facts import Fact, PaymentFact, RefundFact, SubscriptionFact, WebhookEvent
from core.providers import (
    ALL_CAPABILITIES,
    ChangePreview,
    CheckoutItem,
    CheckoutRequest,
    PaymentProvider,
    PortalRequest,
    PortalSession,
    PriceReference,
    ProviderCheckoutSession,
    RefundRequest,
    SubscriptionChange,
)
from core.timeutil import from_unix, utcnow
from stripe_provider import idempotency
from stripe_provider.checkout import checkout_session, session_params
from stripe_provider.client import build_client, replayed, with_retries
from stripe_provider.customers import customer_params
from stripe_provider.errors import provider_error
from stripe_provider.metadata import metadata_of
from stripe_provider.objects import (
    payment_fact,
    payment_moment,
    refund_fact,
    subscription_fact,
    subscription_moment,
)
from stripe_provider.portal import portal_params, portal_session
from stripe_provider.prices import price_params, product_params
from stripe_provider.refunds import refund_params, refunded_fact
from stripe_provider.settings import StripeSettings
from stripe_provider.subscriptions import (
    PREVIEW_API_VERSION,
    cancel_params,
    change_params,
    change_preview,
    first_item_id,
    preview_params,
)
from stripe_provider.webhooks import parse_event, verify_signature

__all__ = ["StripeProvider", "StripeSettings"]

log = logging.getLogger("platform_payments.stripe")

T = TypeVar("T")


class StripeProvider(PaymentProvider):
    """What it retrieves carries `observed_at`, the object's own time (`objects.py`).

    What a managing action answers (cancel, resume, change, refund) carries
    `observed_at=None` instead: the answer is Stripe's state as of now, and a Stripe object
    has no time of its last change (no `updated`), so none of its timestamps dates it; the
    host uses its own clock, read right after the answer.
    """

    def __init__(self, key: str, settings: StripeSettings) -> None:
        super().__init__(key, "stripe", "Stripe")
        self.settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: stripe.AIOHTTPClient | None = None

    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> StripeProvider:
        if service.production and settings.secret_key and not settings.webhook_secrets:
            raise ConfigurationError(
                f"[providers.{key}] has a secret_key but no webhook_secrets "
                f"(STRIPE_WEBHOOK_SECRET): PAYMENTS_ENV=production refuses to run a provider "
                f"whose webhooks it cannot verify"
            )
        return cls(key, settings)

    @property
    def capabilities(self) -> frozenset[str]:
        return ALL_CAPABILITIES

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
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        passthrough: bool = False,
        reading: str | None = None,
    ) -> T:
        """One Stripe call under the retry policy; any failure becomes a 502.

        With `passthrough`, Stripe's `IdempotencyError` is raised as it is, for the caller
        to handle. A read of an object (`reading` is its id) that Stripe does not have is
        `ProviderObjectMissing`, so reconcile reports it instead of counting an outage.
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
            if (
                reading is not None
                and isinstance(error, stripe.InvalidRequestError)
                and error.code == "resource_missing"
            ):
                raise ProviderObjectMissing(
                    f"{what.removesuffix(' retrieve')} '{reading}' is missing at Stripe "
                    f"(provider '{self.key}')"
                ) from None
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
            reading=provider_checkout_session_id,
        )
        data = session.to_dict()
        return replace(checkout_session(data), observed_at=from_unix(data.get("created")))

    async def retrieve_subscription(self, provider_subscription_id: str) -> SubscriptionFact:
        client = self._stripe()
        subscription = await self._call(
            "subscription retrieve",
            lambda: client.v1.subscriptions.retrieve_async(provider_subscription_id),
            reading=provider_subscription_id,
        )
        data = subscription.to_dict()
        return replace(subscription_fact(data), observed_at=subscription_moment(data))

    async def _intent(self, provider_payment_id: str) -> dict[str, Any]:
        client = self._stripe()
        intent = await self._call(
            "payment intent retrieve",
            lambda: client.v1.payment_intents.retrieve_async(
                provider_payment_id, {"expand": ["latest_charge"]}
            ),
            reading=provider_payment_id,
        )
        data: dict[str, Any] = intent.to_dict()
        return data

    async def retrieve_payment(self, provider_payment_id: str) -> PaymentFact:
        """The intent with its latest charge, whose time is when it was paid."""
        data = await self._intent(provider_payment_id)
        return replace(payment_fact(data), observed_at=payment_moment(data))

    async def read_payment(self, provider_payment_id: str) -> tuple[Fact, ...]:
        """The intent, and its charge's refunded total when some was refunded (one call)."""
        data = await self._intent(provider_payment_id)
        moment = payment_moment(data)
        paid = replace(payment_fact(data), observed_at=moment)
        charge = data.get("latest_charge")
        refunded = refund_fact(charge) if isinstance(charge, dict) else None
        if refunded is None or refunded.amount_refunded <= 0:
            return (paid,)
        refunded = replace(refunded, provider_payment_id=paid.provider_payment_id)
        return paid, replace(refunded, observed_at=moment)

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

    # -- managing what was bought -------------------------------------------------------
    #
    # Every answer below is Stripe's object right after the action, returned with
    # `observed_at=None`: it is the state as of now, and a Stripe object carries no time of
    # its last change (no `updated`), so none of its own timestamps would date this state;
    # the host then applies it at its own clock, read right after the answer. Every write
    # carries the host's idempotency key, so a retried action acts once at Stripe.

    async def cancel_subscription(
        self, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionFact:
        """At the period's end: `cancel_at_period_end=true`; now: Stripe's cancel (DELETE).

        Stripe ignores idempotency keys on DELETE, and cancelling a canceled subscription
        is an error: when a cancel now fails that way, the subscription is read back, and
        if it is canceled already (an earlier attempt reached Stripe, its answer was lost)
        that is the answer.
        """
        client = self._stripe()
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        if at_period_end:
            params = cancel_params(at_period_end=True)
            updated = await self._call(
                "subscription cancel at period end",
                lambda: client.v1.subscriptions.update_async(
                    provider_subscription_id, params, options
                ),
            )
            return await self._subscription_answer(updated)
        try:
            canceled = await with_retries(
                lambda: client.v1.subscriptions.cancel_async(
                    provider_subscription_id, None, options
                ),
                retries=self.settings.max_network_retries,
                initial_delay=self.settings.retry_initial_delay,
                what="subscription cancel",
            )
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                raise provider_error(error, self.key) from None
            current = await self._subscription_data(provider_subscription_id)
            if current.get("status") != "canceled":
                raise provider_error(error, self.key) from None
            return subscription_fact(current, deleted=True)
        except (stripe.StripeError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise provider_error(error, self.key) from None
        return await self._subscription_answer(canceled, deleted=True)

    async def resume_subscription(
        self, provider_subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionFact:
        """Undo a pending cancel: `cancel_at_period_end=false`."""
        client = self._stripe()
        params = cancel_params(at_period_end=False)
        updated = await self._call(
            "subscription resume",
            lambda: client.v1.subscriptions.update_async(
                provider_subscription_id, params, {"idempotency_key": idempotency_key}
            ),
        )
        return await self._subscription_answer(updated)

    async def _subscription_answer(
        self, answer: stripe.Subscription, *, deleted: bool = False
    ) -> SubscriptionFact:
        """The fact of a write's answer; a replayed answer (a retry under the key of an
        earlier attempt) is the state that attempt left, maybe older than a change made
        since, so the subscription is read again and that is the answer."""
        if not replayed(answer):
            return subscription_fact(answer.to_dict(), deleted=deleted)
        current = await self._subscription_data(answer.id)
        return subscription_fact(current, deleted=current.get("status") == "canceled")

    async def _subscription_data(self, provider_subscription_id: str) -> dict[str, Any]:
        client = self._stripe()
        subscription = await self._call(
            "subscription retrieve",
            lambda: client.v1.subscriptions.retrieve_async(provider_subscription_id),
        )
        data: dict[str, Any] = subscription.to_dict()
        return data

    async def change_subscription(self, change: SubscriptionChange) -> SubscriptionFact:
        """Read the subscription for its item, then replace that item's price in place."""
        client = self._stripe()
        current = await self._subscription_data(change.provider_subscription_id)
        params = change_params(change, first_item_id(current))
        updated = await self._call(
            "subscription change",
            lambda: client.v1.subscriptions.update_async(
                change.provider_subscription_id, params, {"idempotency_key": change.idempotency_key}
            ),
        )
        return await self._subscription_answer(updated)

    async def preview_change(self, change: SubscriptionChange) -> ChangePreview:
        """Stripe's upcoming invoice for the change, prorated from now; nothing changes.

        Sent raw to `GET /v1/invoices/upcoming` under `PREVIEW_API_VERSION` (see there for
        why this one request leaves the SDK's typed services and the pinned version).
        """
        client = self._stripe()
        current = await self._subscription_data(change.provider_subscription_id)
        now = int(utcnow().timestamp())
        params = preview_params(change, current, first_item_id(current), now)
        answer = await self._call(
            "invoice preview",
            lambda: client.raw_request_async(
                "get", "/v1/invoices/upcoming", stripe_version=PREVIEW_API_VERSION, **params
            ),
        )
        data = answer.data
        if not isinstance(data, dict):
            raise ProviderError("Stripe answered the invoice preview with no invoice")
        return change_preview(data, now)

    async def create_portal_session(self, request: PortalRequest) -> PortalSession:
        """A billing portal session for the tenant's customer."""
        client = self._stripe()
        params = portal_params(request)
        session = await self._call(
            "billing portal session create",
            lambda: client.v1.billing_portal.sessions.create_async(
                params, {"idempotency_key": request.idempotency_key}
            ),
        )
        return portal_session(session.to_dict())

    async def refund_payment(self, request: RefundRequest) -> RefundFact:
        """Refund part of a payment intent; the fact is its charge's refunded total after.

        The intent is read first for its metadata (what the checkout put on it: the tenant),
        which the refund carries too. After the refund the intent is read again with its
        latest charge, whose `amount_refunded` is the payment's total so far: never the
        replayed answer of an earlier attempt (a retry under the same key answers what the
        first attempt did, which would be older than a refund made since). Should that last
        read fail, the refund is made and this is a 502: the caller's retry (same key)
        refunds nothing more and reads again, and Stripe's `charge.refunded` follows anyway.
        """
        client = self._stripe()
        payment_id = request.provider_payment_id
        before = await self._call(
            "payment intent retrieve",
            lambda: client.v1.payment_intents.retrieve_async(payment_id),
        )
        intent_metadata = metadata_of(before.to_dict().get("metadata"))
        params = refund_params(request, intent_metadata)
        await self._call(
            "refund create",
            lambda: client.v1.refunds.create_async(
                params, {"idempotency_key": request.idempotency_key}
            ),
        )
        after = await self._call(
            "payment intent retrieve",
            lambda: client.v1.payment_intents.retrieve_async(
                payment_id, {"expand": ["latest_charge"]}
            ),
        )
        data = after.to_dict()
        charge = data.get("latest_charge")
        if not isinstance(charge, dict):
            raise ProviderError(f"Stripe payment {payment_id} has no charge after the refund")
        return refunded_fact(payment_id, charge, data.get("metadata"))

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        verify_signature(
            body, headers, self.settings.webhook_secrets, self.settings.webhook_tolerance, self.key
        )

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        return parse_event(body)
