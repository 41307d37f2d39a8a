"""Checkout sessions: the parameters we send, and Stripe's session in the host's terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsPaymentIntentData,
    SessionCreateParamsSubscriptionData,
)

from core.errors import Unprocessable
from core.facts import CheckoutSessionFact
from core.providers import CheckoutMode, CheckoutRequest, CheckoutStatus, ProviderCheckoutSession
from core.timeutil import from_unix
from stripe_provider.metadata import client_reference, metadata_of, tenant_metadata

STATUSES = ("open", "complete", "expired")


def session_params(request: CheckoutRequest, provider_customer_id: str) -> SessionCreateParams:
    """One line item at the item's Stripe price, for the tenant's customer.

    The success and cancel URLs go as given: the SDK form-encodes them and Stripe
    decodes them, so `{CHECKOUT_SESSION_ID}` arrives intact for Stripe to fill in.
    Promotion codes and automatic tax are sent only when the request asks for them;
    automatic tax needs the buyer's address, and since a session always names our
    customer, Stripe must be allowed to save the address it collects on that customer
    (`customer_update[address]=auto`). A trial is sent only for more than 0 days (the
    host sets 0 for a tenant that had a subscription before).
    """
    price = request.item.provider_price_id
    if not price:
        raise Unprocessable(
            f"pricing item '{request.item.code}' has no Stripe price", code="provider_price_missing"
        )
    metadata = tenant_metadata(request)
    params: SessionCreateParams = {
        "mode": request.mode,
        "line_items": [{"price": price, "quantity": 1}],
        "customer": provider_customer_id,
        "client_reference_id": client_reference(request.consumer_key, request.consumer_tenant_id),
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": metadata,
    }
    if request.allow_promotion_codes:
        params["allow_promotion_codes"] = True
    if request.automatic_tax:
        params["automatic_tax"] = {"enabled": True}
        params["customer_update"] = {"address": "auto"}
    if request.mode == "subscription":
        subscription: SessionCreateParamsSubscriptionData = {"metadata": dict(metadata)}
        if request.item.trial_days > 0:
            subscription["trial_period_days"] = request.item.trial_days
        params["subscription_data"] = subscription
    else:
        payment: SessionCreateParamsPaymentIntentData = {"metadata": dict(metadata)}
        params["payment_intent_data"] = payment
    return params


def object_id(value: Any) -> str | None:
    """The id of a reference that may be a plain id or an expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def _mode(value: Any) -> CheckoutMode:
    return "subscription" if value == "subscription" else "payment"


def _status(value: Any) -> CheckoutStatus:
    return cast(CheckoutStatus, value) if value in STATUSES else "open"


def checkout_session(data: Mapping[str, Any]) -> ProviderCheckoutSession:
    """A Stripe `checkout.session` (as a plain dict) in the host's terms."""
    return ProviderCheckoutSession(
        provider_checkout_session_id=str(data["id"]),
        url=data.get("url"),
        status=_status(data.get("status")),
        mode=_mode(data.get("mode")),
        payment_status=str(data.get("payment_status") or "unpaid"),
        provider_customer_id=object_id(data.get("customer")),
        provider_subscription_id=object_id(data.get("subscription")),
        provider_payment_id=object_id(data.get("payment_intent")),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        expires_at=from_unix(data.get("expires_at")),
        metadata=metadata_of(data.get("metadata")),
    )


def checkout_session_fact(session: ProviderCheckoutSession) -> CheckoutSessionFact:
    return CheckoutSessionFact(
        provider_checkout_session_id=session.provider_checkout_session_id,
        status=session.status,
        payment_status=session.payment_status,
        mode=session.mode,
        provider_customer_id=session.provider_customer_id,
        provider_subscription_id=session.provider_subscription_id,
        provider_payment_id=session.provider_payment_id,
        amount_total=session.amount_total,
        currency=session.currency,
        metadata=dict(session.metadata),
        observed_at=session.observed_at,
    )
