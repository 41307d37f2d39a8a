"""The normalized events a consumer receives: the envelope and each type's `data`.

They document `/openapi.json`'s `webhooks` section (`web.openapi`); the body is what
`core.delivery.outbox.event_body` builds and the dispatcher sends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from core.events import EVENT_TYPES
from web.schemas.billing import PurchaseOut, SubscriptionOut
from web.schemas.checkout import CheckoutSessionOut
from web.schemas.common import ApiModel
from web.schemas.managing import DisputeOut, InvoiceOut


class CheckoutEventData(ApiModel):
    checkout_session: CheckoutSessionOut
    pricing_item_code: str


class PurchaseEventData(ApiModel):
    purchase: PurchaseOut
    pricing_item_code: str


class SubscriptionEventData(ApiModel):
    subscription: SubscriptionOut
    pricing_item_code: str


class InvoiceEventData(ApiModel):
    invoice: InvoiceOut
    pricing_item_code: str = Field(
        description="The subscription's pricing item; empty when the invoice has none."
    )


class DisputeEventData(ApiModel):
    dispute: DisputeOut
    pricing_item_code: str


DATA_BY_PREFIX: dict[str, type[ApiModel]] = {
    "checkout": CheckoutEventData,
    "purchase": PurchaseEventData,
    "subscription": SubscriptionEventData,
    "invoice": InvoiceEventData,
    "dispute": DisputeEventData,
}
"""What `data` holds, by the part of the type before the dot (the contract's "Events out")."""


class EventEnvelope(ApiModel):
    """What every normalized event carries; each type narrows `type` and `data`."""

    id: str = Field(
        description="The event id; also the `webhook-id` header, stable across retries."
    )
    type: str
    occurred_at: str
    provider_key: str
    provider_event_id: str | None
    consumer_key: str
    consumer_tenant_id: str
    data: dict[str, Any]


EVENT_MEANINGS: dict[str, str] = {
    "checkout.completed": "A checkout session was completed (paid, or a subscription started).",
    "checkout.expired": "A checkout session expired unpaid.",
    "purchase.paid": "A one-time purchase was paid.",
    "purchase.failed": "A one-time purchase's payment failed.",
    "purchase.refunded": "A purchase was refunded, wholly (`refunded`) or in part "
    "(`partially_refunded`).",
    "subscription.created": "A subscription was created.",
    "subscription.updated": "A subscription changed: status, period (a renewal), plan, or a "
    "cancel at period end set or undone.",
    "subscription.canceled": "A subscription was canceled (it ended, or its status became "
    "`canceled`).",
    "subscription.payment_failed": "A subscription's invoice could not be paid.",
    "invoice.paid": "An invoice was paid.",
    "invoice.payment_failed": "An invoice's payment failed.",
    "dispute.opened": "A payment was disputed (a chargeback).",
    "dispute.closed": "A dispute was closed: won, lost or warning_closed.",
}
"""What each event type says happened, for the document's readers."""


def _model_name(event_type: str) -> str:
    words = event_type.replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Event"


def _event_model(event_type: str) -> type[EventEnvelope]:
    data = DATA_BY_PREFIX[event_type.split(".", 1)[0]]
    literal: Any = Literal[event_type]
    model: type[EventEnvelope] = create_model(
        _model_name(event_type),
        __base__=EventEnvelope,
        __doc__=f"`{event_type}`: {EVENT_MEANINGS[event_type]}",
        type=(literal, ...),
        data=(data, ...),
    )
    return model


EVENT_MODELS: dict[str, type[EventEnvelope]] = {t: _event_model(t) for t in EVENT_TYPES}
"""One envelope model per normalized event type, in `EVENT_TYPES` order."""


class DeliveryHeaders(BaseModel):
    """The headers a consumer receives with each delivery."""

    webhook_id: str = Field(
        alias="webhook-id",
        description="The event id: the same on every retry, so consumers dedupe on it.",
    )
    webhook_timestamp: str | None = Field(
        default=None,
        alias="webhook-timestamp",
        description="Unix seconds of this attempt's signature (consumers with a signing secret).",
    )
    webhook_signature: str | None = Field(
        default=None,
        alias="webhook-signature",
        description="Standard Webhooks `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` "
        "(consumers with a signing secret).",
    )
    x_platform_internal_token: str | None = Field(
        default=None,
        alias="x-platform-internal-token",
        description="The consumer's configured token (consumers configured with one).",
    )
