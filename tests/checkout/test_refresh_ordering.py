"""The checkout refresh orders what it read by the provider's own timestamps, not this
service's clock: a real event made just before the refresh still applies after it, and a
refresh never rolls back a newer event."""

from __future__ import annotations

import time
from typing import Any

from sandbox_provider import objects as sandbox_objects
from stripe_provider.objects import payment_moment, subscription_moment

from core.models import CheckoutSession, NormalizedEvent, Purchase, Subscription
from core.timeutil import from_unix
from tests.checkout.test_checkout_refresh import open_session
from tests.checkout.test_checkout_sessions import SESSIONS
from tests.support import stripe_events as se
from tests.support.stripe_standin import StripeStandIn
from tests.support.webhooks import SECRET, event_types, post_event

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
HOUR = 3600


def backdate_subscription(standin: StripeStandIn, subscription_id: str, at: int) -> dict[str, Any]:
    """The subscription began at `at` (its every own timestamp), as one made an hour ago."""
    sub = standin.objects[subscription_id]
    sub.update(created=at, start_date=at, billing_cycle_anchor=at, trial_start=None)
    item = sub["items"]["data"][0]
    item.update(current_period_start=at, current_period_end=at + 30 * 86400)
    return sub


async def test_an_event_made_just_before_a_refresh_still_applies_after_it(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    """The refresh reads the subscription as it was an hour ago (its own time); the event
    created a minute ago, by the provider's clock, is newer than that and is applied. With
    this service's clock as the refresh's time (a clock that runs ahead of the provider's,
    or a read that lagged the change), the event was dropped as stale."""
    api = await checkout_app(webhook_secrets=SECRET)
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]
    now = int(time.time())
    completed = stripe_standin.complete_session(session_id)
    sub = backdate_subscription(stripe_standin, completed["subscription"], now - HOUR)

    refreshed = await api.get(f"{SESSIONS}/{session_id}")
    assert refreshed.body["status"] == "complete"
    record = await Subscription.get(provider_subscription_id=sub["id"])
    assert record.provider_updated_at == from_unix(now - HOUR)

    canceling = {**sub, "cancel_at_period_end": True}
    event = se.event("customer.subscription.updated", canceling, created=now - 60)
    assert (await post_event(api, event)).status == 200

    record = await Subscription.get(provider_subscription_id=sub["id"])
    assert record.cancel_at_period_end is True
    assert record.provider_updated_at == from_unix(now - 60)
    assert sorted(await event_types()) == [
        "checkout.completed",
        "subscription.created",
        "subscription.updated",
    ]


async def test_a_refresh_never_rolls_back_a_newer_event(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(webhook_secrets=SECRET)
    opened = await open_session(api, stripe_standin)
    session_id = opened["providerCheckoutSessionId"]
    now = int(time.time())
    completed = stripe_standin.complete_session(session_id)
    sub = backdate_subscription(stripe_standin, completed["subscription"], now - HOUR)
    # The subscription's payment failed a minute ago; the provider's answer to the refresh
    # still shows it active (a read that lags the change).
    failing = se.event(
        "customer.subscription.updated", {**sub, "status": "past_due"}, created=now - 60
    )
    assert (await post_event(api, failing)).status == 200

    refreshed = await api.get(f"{SESSIONS}/{session_id}")

    assert refreshed.body["status"] == "complete"
    record = await Subscription.get(provider_subscription_id=sub["id"])
    assert record.status == "past_due"
    assert record.past_due_since == from_unix(now - 60)
    assert refreshed.body["subscriptionId"] == str(record.id)
    assert await event_types() == ["subscription.created", "checkout.completed"]
    plan = (await api.get("/internal/payments/tenants/tenant_123/plan-status")).body
    assert (plan["status"], plan["entitled"]) == ("past_due", False)


async def test_a_refreshed_purchase_is_dated_by_its_charge(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    opened = await open_session(api, stripe_standin, "lifetime_addon")
    session_id = opened["providerCheckoutSessionId"]
    now = int(time.time())
    completed = stripe_standin.complete_session(session_id)
    completed["created"] = now - 1200  # opened twenty minutes ago, paid ten minutes ago
    intent = stripe_standin.objects[completed["payment_intent"]]
    intent["created"] = now - 900
    stripe_standin.objects[intent["latest_charge"]]["created"] = now - 600

    refreshed = await api.get(f"{SESSIONS}/{session_id}")

    purchase = await Purchase.get(provider_payment_id=intent["id"])
    assert refreshed.body["purchaseId"] == str(purchase.id)
    assert purchase.paid_at == from_unix(now - 600)
    paid = await NormalizedEvent.get(type="purchase.paid")
    assert paid.occurred_at == from_unix(now - 600)
    (read,) = stripe_standin.requests_to("get", f"/v1/payment_intents/{intent['id']}")
    assert read.params == {"expand": {"0": "latest_charge"}}
    session = await CheckoutSession.get(provider_checkout_session_id=session_id)
    assert session.status == "complete"


def test_a_stripe_subscriptions_time_is_its_latest_past_timestamp() -> None:
    sub = se.subscription(
        "sub_t",
        status="canceled",
        customer="cus_t",
        period_start=1_790_000_000,
        period_end=1_792_592_000,
        canceled_at=1_790_000_500,
        ended_at=1_790_000_400,
        trial_end=1_799_000_000,  # ahead: not a moment of its state
    )
    sub.update(created=1_789_000_000, start_date=1_789_000_000, trial_start=None)
    sub["cancel_at"] = 1_799_500_000
    assert subscription_moment(sub) == from_unix(1_790_000_500)
    old_api = se.subscription(
        "sub_o",
        status="active",
        customer="cus_t",
        period_start=1_790_000_900,
        period_end=1_792_592_000,
        new_api=False,
    )
    old_api.update(created=1_789_000_000, start_date=1_789_000_000, trial_start=None)
    old_api.update(canceled_at=None, ended_at=None)
    assert subscription_moment(old_api) == from_unix(1_790_000_900)


def test_a_payment_intents_time_is_its_latest_charge_when_expanded() -> None:
    intent = {"id": "pi_t", "created": 100, "canceled_at": None, "latest_charge": "ch_t"}
    assert payment_moment(intent) == from_unix(100)
    assert payment_moment({**intent, "latest_charge": {"id": "ch_t", "created": 160}}) == (
        from_unix(160)
    )


def test_a_sandbox_objects_time_is_its_last_events() -> None:
    stored = {"id": "sub_sbx_t", "created": 100.0, "current_period_start": 150.0, "clock": 170250}
    assert sandbox_objects.moment(stored, "created", "current_period_start") == from_unix(170.25)
    snapshot = {k: v for k, v in stored.items() if k != "clock"}
    assert sandbox_objects.moment(snapshot, "created", "current_period_start") == from_unix(150)
