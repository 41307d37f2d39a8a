"""What the sandbox's JSON routes answer, for `/openapi.json` (camelCase, as the contract)."""

from __future__ import annotations

from typing import Any, Literal

from web.schemas.common import ApiModel


class SandboxSubscriptionOut(ApiModel):
    """A subscription as the sandbox holds it (the provider's side, not the service's record)."""

    id: str
    provider_key: str
    status: str
    customer: str | None
    pricing_item_code: str | None
    consumer_key: str | None
    consumer_tenant_id: str | None
    current_period_start: str | None
    current_period_end: str | None
    cancel_at_period_end: bool
    canceled_at: str | None
    ended_at: str | None
    trial_end: str | None
    latest_invoice: dict[str, Any] | None


class SandboxCheckoutSessionOut(ApiModel):
    """A checkout session as the sandbox holds it."""

    id: str
    provider_key: str
    status: str
    mode: str
    payment_status: str
    url: str | None
    subscription: str | None
    payment_intent: str | None
    expires_at: str | None


DisputeStatus = Literal["needs_response", "under_review", "won", "lost", "warning_closed"]


class SandboxDisputeIn(ApiModel):
    """Where to move the payment's dispute (it is opened when it has none)."""

    status: DisputeStatus
    reason: str | None = None
    """Default `fraudulent` for a new dispute; up to 64 characters."""


class SandboxDisputeOut(ApiModel):
    """A dispute as the sandbox holds it."""

    id: str
    provider_key: str
    status: DisputeStatus
    reason: str | None
    amount: int
    currency: str | None
    charge: str
    payment_intent: str
    created_at: str | None


class InboxEntry(ApiModel):
    """One delivery the development inbox received: its `webhook-id` and the event."""

    webhook_id: str | None
    received_at: str
    event: Any


class InboxList(ApiModel):
    data: list[InboxEntry]
    next_cursor: str | None


class InboxReceived(ApiModel):
    received: bool
