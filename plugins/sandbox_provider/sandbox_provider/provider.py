"""The sandbox provider: one instance per provider key mapped to plugin `sandbox`.

It needs no account and is always configured. Its "provider side" lives in the
`sandbox_objects` table; its hosted checkout is this service's own page
(`/sandbox/checkout/<id>`); its events are signed and POSTed to this service's
`/webhooks/<key>`, so everything after the page takes the same path as Stripe's events.
It refuses to be built when the service runs in production.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tortoise.exceptions import IntegrityError

from core.config import Settings
from core.errors import ConfigurationError, ProviderObjectMissing
from core.facts import (
    CONSUMER_KEY,
    CONSUMER_TENANT_ID,
    Fact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
    WebhookEvent,
)
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
from sandbox_provider import events, managing, objects, signing, store
from sandbox_provider.sender import DeliveryFailed, EventSender, Target
from sandbox_provider.settings import SandboxSettings

__all__ = ["SandboxProvider", "SandboxSettings"]

PLUGIN_NAME = "sandbox"
PAGE_PATH = "/sandbox/checkout/"
PORTAL_PATH = "/sandbox/portal/"
SUBSCRIPTION_TIMES = ("created", "current_period_start", "canceled_at", "ended_at")

log = logging.getLogger("platform_payments.sandbox")


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


class SandboxProvider(PaymentProvider):
    def __init__(self, key: str, settings: SandboxSettings, public_url: str) -> None:
        super().__init__(key, PLUGIN_NAME, settings.display_name)
        self.settings = settings
        self.public_url = public_url
        self.sender = EventSender(
            Target(
                provider_key=key,
                url=f"{public_url}/webhooks/{key}",
                secret=settings.webhook_secret[0],
                timeout=settings.webhook_timeout,
            )
        )

    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> SandboxProvider:
        if service.production:
            raise ConfigurationError(
                f"[providers.{key}] the sandbox provider refuses to run with PAYMENTS_ENV=production "
                f"(it takes no real money): set enabled = false in its table or remove it"
            )
        assert isinstance(settings, SandboxSettings)
        public_url = settings.public_url or f"http://localhost:{service.port}"
        return cls(key, settings, public_url)

    @property
    def capabilities(self) -> frozenset[str]:
        return ALL_CAPABILITIES

    @property
    def configured(self) -> bool:
        return True

    async def close(self) -> None:
        await self.sender.close()

    def checkout_url(self, session_id: str) -> str:
        return f"{self.public_url}{PAGE_PATH}{session_id}"

    async def ensure_customer(self, request: CheckoutRequest) -> str:
        """One customer per tenant, its id derived from the tenant so a retry finds it."""
        customer_id = "cus_sbx_" + _digest(
            self.key, request.consumer_key, request.consumer_tenant_id
        )
        if await store.find(customer_id, store.CUSTOMER) is None:
            # A concurrent checkout of the same tenant may have made it first: same customer.
            with contextlib.suppress(IntegrityError):
                await store.create(
                    None,
                    customer_id,
                    self.key,
                    store.CUSTOMER,
                    objects.customer(customer_id, request),
                )
        return customer_id

    async def create_checkout_session(
        self, request: CheckoutRequest, provider_customer_id: str
    ) -> ProviderCheckoutSession:
        """An open session; the same idempotency key gives back the same session."""
        session_id = "cs_sbx_" + _digest(self.key, request.idempotency_key, length=32)
        found = await store.find(session_id, store.CHECKOUT_SESSION)
        if found is None:
            data = objects.checkout_session(
                session_id,
                request,
                provider_customer_id,
                self.checkout_url(session_id),
                now=utcnow(),
                expires_after=self.settings.checkout_expires_after,
            )
            try:
                found = await store.create(None, session_id, self.key, store.CHECKOUT_SESSION, data)
            except IntegrityError:
                found = await store.find(session_id, store.CHECKOUT_SESSION)
                if found is None:
                    raise
        return objects.provider_checkout_session(found.data)

    async def _object(self, object_id: str, kind: str, what: str) -> dict[str, Any]:
        row = await store.find(object_id, kind)
        if row is None or row.provider_key != self.key:
            raise ProviderObjectMissing(f"{what} '{object_id}' not found at provider '{self.key}'")
        return row.data

    async def retrieve_checkout_session(
        self, provider_checkout_session_id: str
    ) -> ProviderCheckoutSession:
        data = await self._object(
            provider_checkout_session_id, store.CHECKOUT_SESSION, "checkout session"
        )
        observed = objects.moment(data, "created", "completed_at")
        return replace(objects.provider_checkout_session(data), observed_at=observed)

    async def retrieve_subscription(self, provider_subscription_id: str) -> SubscriptionFact:
        data = await self._object(provider_subscription_id, store.SUBSCRIPTION, "subscription")
        return self._subscription_answer(data)

    async def retrieve_payment(self, provider_payment_id: str) -> PaymentFact:
        data = await self._object(provider_payment_id, store.PAYMENT_INTENT, "payment")
        return replace(objects.payment_fact(data), observed_at=objects.moment(data, "created"))

    async def read_payment(self, provider_payment_id: str) -> tuple[Fact, ...]:
        """The payment, and its refunded total when some was refunded."""
        data = await self._object(provider_payment_id, store.PAYMENT_INTENT, "payment")
        moment = objects.moment(data, "created")
        paid = replace(objects.payment_fact(data), observed_at=moment)
        if int(data.get("amount_refunded") or 0) <= 0:
            return (paid,)
        refunded = objects.refund_fact(objects.charge(data))
        return paid, replace(refunded, observed_at=moment)

    async def sync_price(self, item: CheckoutItem) -> PriceReference:
        """Every item has a sandbox price: the sandbox charges what the item says."""
        return PriceReference(
            provider_price_id=f"price_sbx_{_digest(self.key, item.code)}",
            provider_product_id=f"prod_sbx_{_digest(self.key, item.code)}",
        )

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        signing.verify(body, headers, self.settings.webhook_secret, self.settings.webhook_tolerance)

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        return events.parse(body)

    # -- managing what was bought ---------------------------------------------------------
    #
    # Each action runs in `managing` (one transaction, its events pending), then the events
    # are sent. A refused flush is logged, not raised: the action happened at the provider,
    # the events stay pending and go with the next action, and the host applies the answer
    # (the object's fact, at the time of the sandbox's event about it) itself.

    def portal_url(self, session_id: str) -> str:
        return f"{self.public_url}{PORTAL_PATH}{session_id}"

    async def send_events(self) -> None:
        """Flush the pending events; a failure is logged and they stay pending."""
        try:
            await self.sender.flush()
        except DeliveryFailed as error:
            log.warning(
                "sandbox events stay pending, sent with the next action: %s",
                error,
                extra={"provider_key": self.key},
            )

    @staticmethod
    def _subscription_answer(data: dict[str, Any]) -> SubscriptionFact:
        observed = objects.moment(data, *SUBSCRIPTION_TIMES)
        return replace(objects.subscription_fact(data), observed_at=observed)

    async def cancel_subscription(
        self, provider_subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionFact:
        sub = await managing.cancel(
            provider_subscription_id,
            provider_key=self.key,
            at_period_end=at_period_end,
            idempotency_key=idempotency_key,
        )
        await self.send_events()
        return self._subscription_answer(sub)

    async def resume_subscription(
        self, provider_subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionFact:
        sub = await managing.resume(
            provider_subscription_id, provider_key=self.key, idempotency_key=idempotency_key
        )
        await self.send_events()
        return self._subscription_answer(sub)

    async def change_subscription(self, change: SubscriptionChange) -> SubscriptionFact:
        sub = await managing.change(
            change.provider_subscription_id,
            provider_key=self.key,
            item=objects.item_data(change.item),
            proration=change.proration,
            idempotency_key=change.idempotency_key,
        )
        await self.send_events()
        return self._subscription_answer(sub)

    async def preview_change(self, change: SubscriptionChange) -> ChangePreview:
        return await managing.preview(
            change.provider_subscription_id,
            provider_key=self.key,
            item=objects.item_data(change.item),
            proration=change.proration,
        )

    async def create_portal_session(self, request: PortalRequest) -> PortalSession:
        """A portal session the same idempotency key finds again; its page is
        `/sandbox/portal/<id>`, usable for `portal_expires_after` seconds."""
        session_id = "bps_sbx_" + _digest(self.key, request.idempotency_key, length=32)
        data = await managing.open_portal(
            session_id,
            provider_key=self.key,
            customer_id=request.provider_customer_id,
            return_url=request.return_url,
            url=self.portal_url(session_id),
            metadata={
                CONSUMER_KEY: request.consumer_key,
                CONSUMER_TENANT_ID: request.consumer_tenant_id,
            },
            expires_after=self.settings.portal_expires_after,
        )
        return PortalSession(url=str(data["url"]), expires_at=from_unix(data.get("expires_at")))

    async def refund_payment(self, request: RefundRequest) -> RefundFact:
        intent = await managing.refund(
            request.provider_payment_id,
            provider_key=self.key,
            amount=request.amount,
            reason=request.reason,
            idempotency_key=request.idempotency_key,
        )
        await self.send_events()
        observed = objects.moment(intent, "created")
        return replace(objects.refund_fact(objects.charge(intent)), observed_at=observed)
