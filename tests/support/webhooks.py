"""Posting signed Stripe events to the app under test, and reading back what they did."""

from __future__ import annotations

from typing import Any

from core.models import NormalizedEvent
from tests.support import stripe_events
from tests.support.api import Api, Reply

SECRET = "whsec_test_secret"


async def post_event(
    api: Api, payload: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> Reply:
    body = stripe_events.encode(payload)
    headers = {
        "Stripe-Signature": stripe_events.sign(body, secret, timestamp),
        "content-type": "application/json",
    }
    return await api.post("/webhooks/stripe", data=body, headers=headers, token=None)


async def event_types(tenant: str | None = None) -> list[str]:
    """Normalized events written so far, oldest first."""
    query = NormalizedEvent.all().order_by("created_at", "id")
    if tenant is not None:
        query = query.filter(consumer_tenant_id=tenant)
    return [event.type for event in await query]
