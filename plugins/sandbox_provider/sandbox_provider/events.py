"""The sandbox's events: built like Stripe's (`id`, `type`, `created`, `data.object`), and
parsed back into the host's facts when the service receives them at `/webhooks/<key>`.

The types mirror Stripe's, so the ingest, the appliers and the normalized events behave as
they do with Stripe: `checkout.session.completed`/`expired`, `payment_intent.payment_failed`,
`customer.subscription.created`/`updated`/`deleted`, `invoice.paid`, `invoice.payment_failed`,
`charge.refunded` (a refund's charge) and `charge.dispute.created`/`updated`/`closed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from core.errors import ApiError
from core.facts import Fact, WebhookEvent
from core.timeutil import from_unix, utcnow
from sandbox_provider import objects

CHECKOUT_COMPLETED = "checkout.session.completed"
CHECKOUT_EXPIRED = "checkout.session.expired"
PAYMENT_FAILED = "payment_intent.payment_failed"
SUBSCRIPTION_CREATED = "customer.subscription.created"
SUBSCRIPTION_UPDATED = "customer.subscription.updated"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_CREATED = "charge.dispute.created"
DISPUTE_UPDATED = "charge.dispute.updated"
DISPUTE_CLOSED = "charge.dispute.closed"

_PRIVATE = ("clock",)
"""Bookkeeping fields of a stored object that an event does not carry."""


def event(event_id: str, event_type: str, obj: Mapping[str, Any], created: float) -> dict[str, Any]:
    """One event about `obj` as it is now (a copy, so later changes do not leak in)."""
    snapshot = {k: v for k, v in obj.items() if k not in _PRIVATE}
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": created,
        "livemode": False,
        "data": {"object": orjson.loads(orjson.dumps(snapshot))},
    }


PARSERS: dict[str, Callable[[Mapping[str, Any]], tuple[Fact, ...]]] = {
    CHECKOUT_COMPLETED: lambda o: (objects.checkout_session_fact(o),),
    CHECKOUT_EXPIRED: lambda o: (objects.checkout_session_fact(o),),
    PAYMENT_FAILED: lambda o: (objects.payment_fact(o),),
    SUBSCRIPTION_CREATED: lambda o: (objects.subscription_fact(o),),
    SUBSCRIPTION_UPDATED: lambda o: (objects.subscription_fact(o),),
    SUBSCRIPTION_DELETED: lambda o: (objects.subscription_fact(o, deleted=True),),
    INVOICE_PAID: lambda o: (objects.invoice_fact(o, paid=True),),
    INVOICE_PAYMENT_FAILED: lambda o: (objects.invoice_fact(o, paid=False),),
    CHARGE_REFUNDED: lambda o: (objects.refund_fact(o),),
    DISPUTE_CREATED: lambda o: (objects.dispute_fact(o),),
    DISPUTE_UPDATED: lambda o: (objects.dispute_fact(o),),
    DISPUTE_CLOSED: lambda o: (objects.dispute_fact(o),),
}
"""The event types the service acts on; any other type parses to an event with no facts."""


def _invalid(why: str) -> ApiError:
    return ApiError(f"webhook body is not a sandbox event: {why}", code="webhook_payload_invalid")


def parse(body: bytes) -> WebhookEvent:
    """A verified body as a `WebhookEvent`; 400 `webhook_payload_invalid` if it is not one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("not JSON") from None
    if not isinstance(payload, dict):
        raise _invalid("not a JSON object")
    event_id, event_type = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise _invalid("no id or type")
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    parser = PARSERS.get(event_type)
    facts: tuple[Fact, ...] = ()
    if parser is not None:
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise _invalid(f"a {event_type} event without data.object")
        try:
            facts = parser(obj)
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise _invalid(f"a {event_type} event with a malformed object ({error})") from None
    created = payload.get("created")
    when = (
        from_unix(created)
        if isinstance(created, int | float) and not isinstance(created, bool)
        else None
    )
    return WebhookEvent(
        provider_event_id=event_id, type=event_type, created_at=when or utcnow(), facts=facts
    )
