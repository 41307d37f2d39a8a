"""GET /internal/payments/checkout-sessions/:id: an open session is refreshed from Stripe.

What the refresh finds is applied through the same ingest as webhooks, so a product
polling after the buyer's redirect sees the completed checkout even before the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson
from stripe_provider.client import STRIPE_API_VERSION

from core.models import NormalizedEvent, Purchase, Subscription
from tests.checkout.test_checkout_sessions import SESSIONS, add_item, checkout_body
from tests.support.api import Api
from tests.support.stripe_standin import StripeStandIn

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]


async def open_session(
    api: Api, standin: StripeStandIn, code: str = "starter_month", **item: Any
) -> dict[str, Any]:
    if code == "starter_month":
        await add_item(api, standin, **item)
    else:
        await add_item(api, standin, code, kind="one_time", price_id="price_life")
    reply = await api.post(SESSIONS, json=checkout_body(pricingItemCode=code))
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


async def test_an_unknown_session_is_404(checkout_app, stripe_standin: StripeStandIn) -> None:
    api = await checkout_app()
    reply = await api.get(f"{SESSIONS}/cs_test_nope")
    assert reply.status == 404
    assert reply.body == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "checkout session 'cs_test_nope' not found",
        "code": "checkout_session_not_found",
    }


async def test_an_open_session_still_open_at_stripe_is_answered_as_stored(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]

    reply = await api.get(f"{SESSIONS}/{session_id}")

    assert reply.status == 200
    assert reply.body == opened
    assert len(stripe_standin.requests_to("get", f"/v1/checkout/sessions/{session_id}")) == 1
    assert await NormalizedEvent.all().count() == 0


async def test_a_subscription_checkout_completed_at_stripe_is_applied(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin, trialDays=14)
    session_id = opened["providerCheckoutSessionId"]
    completed = stripe_standin.complete_session(session_id)

    reply = await api.get(f"{SESSIONS}/{session_id}")

    assert reply.status == 200
    assert reply.body["status"] == "complete"
    assert reply.body["paymentStatus"] == "paid"
    subscription = await Subscription.get(provider_subscription_id=completed["subscription"])
    assert reply.body["subscriptionId"] == str(subscription.id)
    assert (subscription.consumer_key, subscription.consumer_tenant_id) == ("funnel", "tenant_123")
    assert subscription.pricing_item_code == "starter_month"
    assert subscription.status == "trialing"
    assert subscription.current_period_end is not None
    assert subscription.trial_end is not None
    assert (
        len(stripe_standin.requests_to("get", f"/v1/subscriptions/{completed['subscription']}"))
        == 1
    )
    types = sorted(e.type for e in await NormalizedEvent.all())
    assert types == ["checkout.completed", "subscription.created"]

    again = await api.get(f"{SESSIONS}/{session_id}")
    assert again.body == reply.body
    # No longer open: answered from our records, Stripe is not asked again.
    assert len(stripe_standin.requests_to("get", f"/v1/checkout/sessions/{session_id}")) == 1
    assert await NormalizedEvent.all().count() == 2


async def test_a_one_time_checkout_completed_at_stripe_makes_a_paid_purchase(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin, "lifetime_addon")
    session_id = opened["providerCheckoutSessionId"]
    completed = stripe_standin.complete_session(session_id)

    reply = await api.get(f"{SESSIONS}/{session_id}")

    assert reply.status == 200
    assert reply.body["status"] == "complete"
    purchase = await Purchase.get(provider_payment_id=completed["payment_intent"])
    assert reply.body["purchaseId"] == str(purchase.id)
    assert (purchase.status, purchase.amount, purchase.currency) == ("paid", 4900, "eur")
    assert purchase.pricing_item_code == "lifetime_addon"
    types = sorted(e.type for e in await NormalizedEvent.all())
    assert types == ["checkout.completed", "purchase.paid"]


async def test_an_expired_session_is_applied(checkout_app, stripe_standin: StripeStandIn) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]
    stripe_standin.expire_session(session_id)

    reply = await api.get(f"{SESSIONS}/{session_id}")

    assert reply.body["status"] == "expired"
    assert [e.type for e in await NormalizedEvent.all()] == ["checkout.expired"]


async def test_when_stripe_fails_the_stored_session_is_answered(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]
    stripe_standin.complete_session(session_id)
    stripe_standin.inject("get", "/v1/checkout/sessions/", "server_error")

    failed = await api.get(f"{SESSIONS}/{session_id}")
    assert failed.status == 200
    assert failed.body == opened

    recovered = await api.get(f"{SESSIONS}/{session_id}")
    assert recovered.body["status"] == "complete"


async def test_an_async_payment_still_processing_makes_a_pending_purchase(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin, "lifetime_addon")
    session_id = opened["providerCheckoutSessionId"]
    completed = stripe_standin.complete_session(session_id, payment_status="unpaid")

    reply = await api.get(f"{SESSIONS}/{session_id}")

    assert reply.body["status"] == "complete"
    assert reply.body["paymentStatus"] == "unpaid"
    purchase = await Purchase.get(provider_payment_id=completed["payment_intent"])
    assert purchase.status == "pending"
    assert [e.type for e in await NormalizedEvent.all()] == ["checkout.completed"]


async def test_the_webhook_after_a_refresh_changes_nothing(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    """Refresh and webhook take one path: the webhook that follows finds nothing to do."""
    secret = "whsec_refresh_then_webhook"
    api = await checkout_app(webhook_secrets=secret)
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]
    completed = stripe_standin.complete_session(session_id)
    refreshed = await api.get(f"{SESSIONS}/{session_id}")
    assert refreshed.body["status"] == "complete"
    events_before = await NormalizedEvent.all().count()

    body = orjson.dumps(
        {
            "id": "evt_after_refresh",
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": int(time.time()) - 5,
            "type": "checkout.session.completed",
            "data": {"object": completed},
        }
    )
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    reply = await api.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"},
        token=None,
    )

    assert reply.status == 200, reply.body
    assert await NormalizedEvent.all().count() == events_before
    again = await api.get(f"{SESSIONS}/{session_id}")
    assert again.body == refreshed.body
