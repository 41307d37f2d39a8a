"""Stripe webhooks: the `Stripe-Signature` check, and events parsed into facts.

The signature is checked with the SDK's own `WebhookSignature.verify_header` against
every configured secret, so a secret can be rotated without losing events: while both
are configured, events signed with either are accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
import stripe

from core.errors import ApiError, WebhookSignatureInvalid
from core.facts import Fact, WebhookEvent
from core.timeutil import from_unix, utcnow
from stripe_provider.checkout import checkout_session, checkout_session_fact
from stripe_provider.metadata import CONSUMER_KEY
from stripe_provider.objects import (
    dispute_fact,
    invoice_fact,
    payment_fact,
    refund_fact,
    subscription_fact,
)

SIGNATURE_HEADER = "Stripe-Signature"
_STALE = "Timestamp outside the tolerance zone"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    tolerance: int,
    provider_key: str,
) -> None:
    """Accept the body if any configured secret signed it within `tolerance` seconds."""
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookSignatureInvalid(f"missing {SIGNATURE_HEADER} header")
    if not secrets:
        raise WebhookSignatureInvalid(
            f"provider '{provider_key}' has no webhook secret configured "
            "(STRIPE_WEBHOOK_SECRET), so no signature can be checked"
        )
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookSignatureInvalid("webhook body is not UTF-8") from None
    stale = False
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
        except stripe.SignatureVerificationError as error:
            stale = stale or str(error.user_message or "").startswith(_STALE)
            continue
        _refuse_future(header, tolerance)
        return
    if stale:
        raise WebhookSignatureInvalid(
            f"{SIGNATURE_HEADER} timestamp is older than the {tolerance}s tolerance"
        )
    raise WebhookSignatureInvalid(
        f"{SIGNATURE_HEADER} does not match the body under any configured webhook secret"
    )


def _refuse_future(header: str, tolerance: int) -> None:
    """The SDK bounds a timestamp's age only; one further ahead than the tolerance is refused too.

    Such a signature is either from a clock far off or made to be replayed later. Python
    integers do not overflow, so `t=10**30` is simply "in the future".
    """
    limit = time.time() + tolerance
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.strip().lstrip("-").isdigit() and int(value) > limit:
            raise WebhookSignatureInvalid(
                f"{SIGNATURE_HEADER} timestamp is more than the {tolerance}s tolerance "
                "in the future"
            )


def _checkout_facts(session_data: Mapping[str, Any], payment: str | None) -> tuple[Fact, ...]:
    """The session; `payment` is the delayed payment's outcome (paid or failed), which the
    core turns into the purchase's state, as it does for every completed one-time checkout."""
    fact = checkout_session_fact(checkout_session(session_data))
    return (replace(fact, payment_outcome=payment) if payment else fact,)


def _ours(data: Mapping[str, Any]) -> bool:
    metadata = data.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get(CONSUMER_KEY))


def _payment_intent(data: Mapping[str, Any]) -> tuple[Fact, ...]:
    # Only payment intents our checkout tagged: a subscription invoice's intent is the
    # subscription's business, reported by its invoice events.
    return (payment_fact(data),) if _ours(data) else ()


def _refund(data: Mapping[str, Any]) -> tuple[Fact, ...]:
    found = refund_fact(data)
    return (found,) if found else ()


PARSERS: dict[str, Callable[[Mapping[str, Any]], tuple[Fact, ...]]] = {
    "checkout.session.completed": lambda o: _checkout_facts(o, None),
    "checkout.session.async_payment_succeeded": lambda o: _checkout_facts(o, "paid"),
    "checkout.session.async_payment_failed": lambda o: _checkout_facts(o, "failed"),
    "checkout.session.expired": lambda o: _checkout_facts(o, None),
    "customer.subscription.created": lambda o: (subscription_fact(o),),
    "customer.subscription.updated": lambda o: (subscription_fact(o),),
    "customer.subscription.deleted": lambda o: (subscription_fact(o, deleted=True),),
    "invoice.created": lambda o: (invoice_fact(o, paid=None),),
    "invoice.finalized": lambda o: (invoice_fact(o, paid=None),),
    "invoice.updated": lambda o: (invoice_fact(o, paid=None),),
    "invoice.paid": lambda o: (invoice_fact(o, paid=True),),
    "invoice.payment_failed": lambda o: (invoice_fact(o, paid=False),),
    "invoice.payment_succeeded": lambda o: (invoice_fact(o, paid=None),),
    "invoice.voided": lambda o: (invoice_fact(o, paid=None),),
    "invoice.marked_uncollectible": lambda o: (invoice_fact(o, paid=None),),
    "charge.dispute.created": lambda o: (dispute_fact(o),),
    "charge.dispute.updated": lambda o: (dispute_fact(o),),
    "charge.dispute.closed": lambda o: (dispute_fact(o),),
    "charge.dispute.funds_withdrawn": lambda o: (dispute_fact(o),),
    "charge.dispute.funds_reinstated": lambda o: (dispute_fact(o),),
    "charge.refunded": _refund,
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.canceled": _payment_intent,
    "payment_intent.processing": _payment_intent,
}
"""The event types the service acts on; any other type parses to an event with no facts."""


def _invalid(why: str) -> ApiError:
    return ApiError(f"webhook body is not a Stripe event: {why}", code="webhook_payload_invalid")


def parse_event(body: bytes) -> WebhookEvent:
    """A verified body as a `WebhookEvent`; 400 `webhook_payload_invalid` if it is not one."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("not JSON") from None
    if not isinstance(event, dict):
        raise _invalid("not a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise _invalid("no id or type")
    created = event.get("created")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    parser = PARSERS.get(event_type)
    facts: tuple[Fact, ...] = ()
    if parser is not None:
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise _invalid(f"a {event_type} event without data.object")
        facts = parser(obj)
    api_version = event.get("api_version")
    return WebhookEvent(
        provider_event_id=event_id,
        type=event_type,
        created_at=(from_unix(created) if isinstance(created, int | float) else None) or utcnow(),
        facts=facts,
        api_version=api_version if isinstance(api_version, str) else None,
    )
