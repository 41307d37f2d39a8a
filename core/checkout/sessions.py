"""The checkout service: open a provider's hosted checkout for a tenant, and read it back.

One path for every entry point: resolve the provider key and the pricing item, make
sure the item has a price at that provider (price sync) and the tenant a customer
there (created once, reused), call the provider, and only then store the session, so
a provider failure leaves no half-written session. Reading an open session refreshes
it from the provider and applies what changed through the same ingest as webhooks, each
fact at the provider's own time of it (`core.ingest.observed`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from tortoise.exceptions import IntegrityError

from core.catalog.buyable import available_item, priced_item
from core.checkout import guards
from core.errors import ApiError, NotFound, ProviderNotConfigured, Unprocessable
from core.facts import CheckoutSessionFact, Fact, PaymentFact, RefundFact, SubscriptionFact
from core.ingest.observed import apply_read
from core.models import CheckoutSession, PricingItem, ProviderCustomer
from core.plugins import Registry
from core.providers import (
    CAPABILITY_PAYMENT,
    CAPABILITY_SUBSCRIPTION,
    CheckoutRequest,
    PaymentProvider,
    ProviderCheckoutSession,
)

log = logging.getLogger("platform_payments.checkout")


@dataclass(frozen=True)
class CheckoutInput:
    """A checkout request as the contract states it, plus the key of this logical request."""

    provider_key: str | None
    pricing_item_code: str
    consumer_key: str
    consumer_tenant_id: str
    tenant_name: str | None
    legal_name: str | None
    billing_email: str | None
    success_url: str
    cancel_url: str
    request_key: str
    """The caller's `Idempotency-Key`, else a random id drawn once per incoming request."""
    allow_additional_subscription: bool = False
    allow_promotion_codes: bool = False
    automatic_tax: bool = False


def checkout_idempotency_key(provider_key: str, data: CheckoutInput) -> str:
    """The provider-side key of one checkout: the same logical request, the same session.

    It joins the request key with what the session is for, so a caller who reuses an
    `Idempotency-Key` for another tenant or item can never be handed someone else's
    session by the provider, while our retries and the caller's own retry (same key,
    same body) reach the provider with the same key and get the same session back.
    """
    parts = (
        provider_key,
        data.consumer_key,
        data.consumer_tenant_id,
        data.pricing_item_code,
        data.request_key,
    )
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]
    return f"platform-payments:checkout:{digest}"


async def _customer_id(provider: PaymentProvider, request: CheckoutRequest) -> str:
    """The tenant's customer at this provider key: created there once, then reused."""
    where: dict[str, Any] = {
        "provider_key": provider.key,
        "consumer_key": request.consumer_key,
        "consumer_tenant_id": request.consumer_tenant_id,
    }
    known = await ProviderCustomer.get_or_none(**where)
    if known is not None:
        return known.provider_customer_id
    provider_customer_id = await provider.ensure_customer(request)
    try:
        await ProviderCustomer.create(
            **where,
            provider_customer_id=provider_customer_id,
            tenant_name=request.tenant_name,
            legal_name=request.legal_name,
            billing_email=request.billing_email,
        )
    except IntegrityError:
        # A concurrent checkout of the same tenant stored it first; both asked the
        # provider with the same idempotency key, so both hold the same customer.
        known = await ProviderCustomer.get_or_none(**where)
        if known is None:
            raise
        return known.provider_customer_id
    return provider_customer_id


def _require_capability(provider: PaymentProvider, item: PricingItem) -> None:
    needed = CAPABILITY_SUBSCRIPTION if item.kind == "recurring" else CAPABILITY_PAYMENT
    if needed not in provider.capabilities:
        raise Unprocessable(
            f"provider '{provider.key}' cannot sell {item.kind} items ({needed})",
            code="provider_capability_missing",
        )


async def _store(
    provider: PaymentProvider, data: CheckoutInput, opened: ProviderCheckoutSession
) -> CheckoutSession:
    """The session row; the provider's id is unique per key, so a replay stores it once."""
    where: dict[str, Any] = {
        "provider_key": provider.key,
        "provider_checkout_session_id": opened.provider_checkout_session_id,
    }
    existing = await CheckoutSession.get_or_none(**where)
    if existing is not None:
        return existing
    try:
        return await CheckoutSession.create(
            **where,
            url=opened.url,
            status=opened.status,
            mode=opened.mode,
            payment_status=opened.payment_status,
            pricing_item_code=data.pricing_item_code,
            consumer_key=data.consumer_key,
            consumer_tenant_id=data.consumer_tenant_id,
            provider_customer_id=opened.provider_customer_id,
            success_url=data.success_url,
            cancel_url=data.cancel_url,
            amount_total=opened.amount_total,
            currency=opened.currency,
            expires_at=opened.expires_at,
        )
    except IntegrityError:
        existing = await CheckoutSession.get_or_none(**where)
        if existing is None:
            raise
        return existing


async def create_checkout_session(registry: Registry, data: CheckoutInput) -> CheckoutSession:
    """Open a hosted checkout; 404/422/502/503 as the contract says, nothing half-written.

    A `consumerKey` that names no configured consumer is 422 `consumer_unknown`: its events
    would have nowhere to go (`docs/decisions.md`)."""
    if data.consumer_key not in registry.consumers:
        configured = ", ".join(f"'{key}'" for key in sorted(registry.consumers)) or "none"
        raise Unprocessable(
            f"consumer '{data.consumer_key}' is not configured (configured: {configured}): "
            "its events would have nowhere to go",
            code="consumer_unknown",
        )
    provider = registry.provider(data.provider_key)
    if not provider.configured:
        raise ProviderNotConfigured(
            f"provider '{provider.key}' is not configured: it cannot open a checkout"
        )
    item = await available_item(data.pricing_item_code)
    _require_capability(provider, item)
    await guards.refuse_second_subscription(
        item,
        data.consumer_key,
        data.consumer_tenant_id,
        allowed=data.allow_additional_subscription,
    )
    checkout_item = await priced_item(provider, item)
    trial = await guards.trial_days(item, data.consumer_key, data.consumer_tenant_id)
    request = CheckoutRequest(
        item=replace(checkout_item, trial_days=trial),
        consumer_key=data.consumer_key,
        consumer_tenant_id=data.consumer_tenant_id,
        tenant_name=data.tenant_name,
        legal_name=data.legal_name,
        billing_email=data.billing_email,
        success_url=data.success_url,
        cancel_url=data.cancel_url,
        provider_customer_id=None,
        idempotency_key=checkout_idempotency_key(provider.key, data),
        allow_promotion_codes=data.allow_promotion_codes,
        automatic_tax=data.automatic_tax,
    )
    customer_id = await _customer_id(provider, request)
    request = replace(request, provider_customer_id=customer_id)
    opened = await provider.create_checkout_session(request, customer_id)
    if opened.provider_customer_id and opened.provider_customer_id != customer_id:
        await _replace_customer(provider, request, customer_id, opened.provider_customer_id)
    return await _store(provider, data, opened)


async def _replace_customer(
    provider: PaymentProvider, request: CheckoutRequest, gone: str, replacement: str
) -> None:
    """The provider replaced a customer deleted on its side: later checkouts use the new one."""
    log.warning(
        "tenant %s/%s of provider %s: customer %s replaced by %s",
        request.consumer_key,
        request.consumer_tenant_id,
        provider.key,
        gone,
        replacement,
    )
    await ProviderCustomer.filter(
        provider_key=provider.key,
        consumer_key=request.consumer_key,
        consumer_tenant_id=request.consumer_tenant_id,
        provider_customer_id=gone,
    ).update(provider_customer_id=replacement)


async def find_checkout_session(provider_checkout_session_id: str) -> CheckoutSession:
    found = await CheckoutSession.filter(
        provider_checkout_session_id=provider_checkout_session_id
    ).first()
    if found is None:
        raise NotFound(
            f"checkout session '{provider_checkout_session_id}' not found",
            code="checkout_session_not_found",
        )
    return found


def _changed(local: CheckoutSession, remote: ProviderCheckoutSession) -> bool:
    """An open session changed when the provider moved its status or payment status."""
    return local.status != remote.status or local.payment_status != remote.payment_status


async def refresh_facts(provider: PaymentProvider, remote: ProviderCheckoutSession) -> list[Fact]:
    """What a refreshed session says, as the webhooks about it would: the session fact,
    plus its subscription (subscription mode) or its payment and what of it was refunded
    (payment mode).

    Each carries the provider's own time of its state (`observed_at`). A session's object
    tells only when it was opened, so a completed one is dated by what completed it, its
    subscription's or payment's time, when that is later.
    """
    bought: SubscriptionFact | PaymentFact | None = None
    refunded: list[Fact] = []
    if remote.mode == "subscription" and remote.provider_subscription_id:
        bought = await provider.retrieve_subscription(remote.provider_subscription_id)
    elif remote.mode == "payment" and remote.provider_payment_id:
        read = await provider.read_payment(remote.provider_payment_id)
        payment = next(fact for fact in read if isinstance(fact, PaymentFact))
        bought = replace(payment, provider_checkout_session_id=remote.provider_checkout_session_id)
        refunded = [fact for fact in read if isinstance(fact, RefundFact)]
    observed = [remote.observed_at, bought.observed_at if bought is not None else None]
    session_at = max((moment for moment in observed if moment is not None), default=None)
    facts: list[Fact] = [
        CheckoutSessionFact(
            provider_checkout_session_id=remote.provider_checkout_session_id,
            status=remote.status,
            payment_status=remote.payment_status,
            mode=remote.mode,
            provider_customer_id=remote.provider_customer_id,
            provider_subscription_id=remote.provider_subscription_id,
            provider_payment_id=remote.provider_payment_id,
            amount_total=remote.amount_total,
            currency=remote.currency,
            metadata=dict(remote.metadata),
            observed_at=session_at,
        )
    ]
    if bought is not None:
        facts.append(bought)
    return facts + refunded


async def get_checkout_session(
    registry: Registry, provider_checkout_session_id: str
) -> CheckoutSession:
    """The session; an `open` one is refreshed from its provider first.

    When the provider cannot be asked (not configured, unreachable, refusing), the
    stored session is answered as it is: the webhook about it will still arrive, and a
    product polling this route after a redirect should not see a 502 for that.
    """
    session = await find_checkout_session(provider_checkout_session_id)
    if session.status != "open":
        return session
    try:
        provider = registry.provider(session.provider_key)
        remote = await provider.retrieve_checkout_session(provider_checkout_session_id)
        if not _changed(session, remote):
            return session
        facts = await refresh_facts(provider, remote)
    except ApiError as error:
        log.warning(
            "checkout session %s not refreshed from %s: %s",
            provider_checkout_session_id,
            session.provider_key,
            error.message,
        )
        return session
    try:
        await apply_read(session.provider_key, facts)
    except Exception:
        # The webhook about this session will apply it; the reader gets what we have.
        log.exception("refreshed checkout session %s not applied", provider_checkout_session_id)
        return session
    await session.refresh_from_db()
    return session
