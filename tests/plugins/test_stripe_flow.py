"""The whole Stripe flow through the stand-in Stripe: checkout -> webhooks -> records, plan
status and outbox rows, as the contract says; and the checkout refresh taking the same path."""

from __future__ import annotations

import time
from typing import Any

from core.models import EventDelivery, NormalizedEvent, Purchase, Subscription
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.catalog import starter_item
from tests.support.stripe_standin.plugins_toml import stripe_plugins
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import SECRET, event_types, post_event

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
ITEMS = "/internal/payments/pricing-items"
CHECKOUTS = "/internal/payments/checkout-sessions"


async def flow_app(checkout_app: Any, standin: StripeStandIn) -> Api:
    api: Api = await checkout_app(stripe_plugins(standin, webhook_secrets=SECRET))
    standin.add_price("price_starter", 1900, "eur", "month")
    standin.add_price("price_lifetime", 4900, "eur", None)
    for body in (
        starter_item(
            features={"funnels": 5},
            providerPrices=[{"providerKey": "stripe", "providerPriceId": "price_starter"}],
        ),
        {
            "code": "lifetime_addon",
            "name": "Lifetime",
            "kind": "one_time",
            "unitAmount": 4900,
            "currency": "eur",
            "features": {"exports": True},
            "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_lifetime"}],
        },
    ):
        assert (await api.post(ITEMS, json=body)).status == 201
    return api


async def open_checkout(api: Api, tenant: str, item: str) -> dict[str, Any]:
    reply = await api.post(
        CHECKOUTS,
        json={
            "pricingItemCode": item,
            "consumerKey": "funnel",
            "consumerTenantId": tenant,
            "tenantName": "Demo",
            "legalName": "Demo SRL",
            "billingEmail": "billing@example.test",
            "successUrl": "https://funnel.test/#/pricing/complete?session_id={CHECKOUT_SESSION_ID}",
            "cancelUrl": "https://funnel.test/#/pricing?checkout=cancel",
        },
    )
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


async def test_subscription_checkout_to_cancellation(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await flow_app(checkout_app, stripe_standin)
    opened = await open_checkout(api, "tenant_123", "starter_month")
    session_id = opened["providerCheckoutSessionId"]
    session = stripe_standin.complete_session(session_id)
    subscription = stripe_standin.objects[session["subscription"]]
    now = int(time.time())

    # Stripe sends the subscription's creation and the completed checkout, in either order.
    await post_event(api, se.event("customer.subscription.created", subscription, created=now))
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    local = (await api.get(f"{CHECKOUTS}/{session_id}")).body
    assert local["status"] == "complete"
    record = await Subscription.get(provider_subscription_id=subscription["id"])
    assert local["subscriptionId"] == str(record.id)
    assert (record.consumer_tenant_id, record.pricing_item_code, record.status) == (
        "tenant_123",
        "starter_month",
        "active",
    )
    plan = (
        await api.get(
            "/internal/payments/tenants/tenant_123/plan-status", query={"consumerKey": "funnel"}
        )
    ).body
    assert (plan["status"], plan["entitled"], plan["features"]) == ("active", True, {"funnels": 5})
    assert plan["plan"]["code"] == "starter_month"

    # Renewal, a failed payment, dunning, cancellation.
    period_end = int(record.current_period_end.timestamp()) if record.current_period_end else now
    renewal = se.invoice(
        "in_r",
        subscription_id=subscription["id"],
        customer=subscription["customer"],
        period_start=period_end,
        period_end=period_end + 30 * 86400,
    )
    await post_event(api, se.event("invoice.paid", renewal, created=now + 1))
    failed = se.invoice(
        "in_f",
        subscription_id=subscription["id"],
        customer=subscription["customer"],
        period_start=period_end,
        period_end=period_end + 30 * 86400,
    )
    await post_event(api, se.event("invoice.payment_failed", failed, created=now + 2))
    await post_event(
        api,
        se.event(
            "customer.subscription.updated", {**subscription, "status": "past_due"}, created=now + 3
        ),
    )
    assert (await api.get("/internal/payments/tenants/tenant_123/plan-status")).body[
        "entitled"
    ] is False
    await post_event(
        api,
        se.event(
            "customer.subscription.deleted",
            {**subscription, "status": "canceled", "ended_at": now + 4},
            created=now + 4,
        ),
    )

    assert await event_types("tenant_123") == [
        "subscription.created",
        "checkout.completed",
        "invoice.paid",
        "subscription.updated",
        "invoice.payment_failed",
        "subscription.payment_failed",
        "subscription.updated",
        "subscription.canceled",
    ]
    assert (
        await Subscription.get(provider_subscription_id=subscription["id"])
    ).status == "canceled"
    deliveries = await EventDelivery.filter(consumer_key="funnel").count()
    assert deliveries == await NormalizedEvent.all().count() == 8
    listed = (
        await api.get("/internal/payments/subscriptions", query={"consumerTenantId": "tenant_123"})
    ).body
    assert [s["status"] for s in listed["data"]] == ["canceled"]


async def test_refresh_applies_a_completed_checkout_like_a_webhook(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await flow_app(checkout_app, stripe_standin)
    opened = await open_checkout(api, "tenant_r", "starter_month")
    session_id = opened["providerCheckoutSessionId"]
    session = stripe_standin.complete_session(session_id)
    refreshed = (await api.get(f"{CHECKOUTS}/{session_id}")).body
    assert refreshed["status"] == "complete"
    assert refreshed["subscriptionId"] is not None
    assert sorted(await event_types("tenant_r")) == ["checkout.completed", "subscription.created"]
    # The webhooks that follow change nothing more.
    subscription = stripe_standin.objects[session["subscription"]]
    now = int(time.time())
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    await post_event(api, se.event("customer.subscription.created", subscription, created=now))
    assert sorted(await event_types("tenant_r")) == ["checkout.completed", "subscription.created"]
    plan = (await api.get("/internal/payments/tenants/tenant_r/plan-status")).body
    assert (plan["status"], plan["entitled"]) == ("active", True)


async def test_one_time_checkout_paid_then_refunded(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await flow_app(checkout_app, stripe_standin)
    opened = await open_checkout(api, "tenant_p", "lifetime_addon")
    session = stripe_standin.complete_session(opened["providerCheckoutSessionId"])
    now = int(time.time())
    await post_event(api, se.event("checkout.session.completed", session, created=now))
    purchase = await Purchase.get(provider_payment_id=session["payment_intent"])
    assert (purchase.status, purchase.amount, purchase.pricing_item_code) == (
        "paid",
        4900,
        "lifetime_addon",
    )
    plan = (await api.get("/internal/payments/tenants/tenant_p/plan-status")).body
    assert plan["features"] == {"exports": True}
    assert plan["purchases"][0]["pricingItemCode"] == "lifetime_addon"
    refund = se.charge(
        "ch_p", payment_intent=session["payment_intent"], amount=4900, amount_refunded=4900
    )
    await post_event(api, se.event("charge.refunded", refund, created=now + 5))
    assert (await Purchase.get(id=purchase.id)).status == "refunded"
    assert await event_types("tenant_p") == [
        "checkout.completed",
        "purchase.paid",
        "purchase.refunded",
    ]
    listed = (await api.get("/internal/payments/purchases", query={"status": "refunded"})).body
    assert [p["providerPaymentId"] for p in listed["data"]] == [session["payment_intent"]]
