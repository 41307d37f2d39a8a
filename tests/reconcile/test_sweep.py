"""The sweep: a subscription whose period lapsed, or a checkout open past its expiry, is
re-read from its provider by the worker itself, under the provider-read runner's lease."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from core.config import Settings
from core.models import CheckoutSession, ProviderRead, Subscription
from core.reconcile.sweep import sweep_once
from core.timeutil import utcnow
from tests.managing.test_stripe_routes import managing_app, subscribed
from tests.plugins.test_stripe_flow import open_checkout
from tests.support.stripe_standin.plugins_toml import stripe_plugins
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import event_types

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
TOKEN = "test-internal-token"


async def _until(check: Callable[[], Any], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the sweep did not repair it in time")


async def test_the_worker_repairs_a_lapsed_subscription_by_itself(
    checkout_app: Any,
    stripe_standin: StripeStandIn,
    make_settings: Callable[..., Settings],
) -> None:
    from web.app import create_app

    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_lapsed")
    lapsed = utcnow() - timedelta(hours=2)
    await Subscription.filter(id=sub["id"]).update(current_period_end=lapsed)
    stripe_standin.objects[sub["providerSubscriptionId"]].update(
        status="canceled", canceled_at=int(lapsed.timestamp()), ended_at=int(lapsed.timestamp())
    )
    opened = await open_checkout(api, "tenant_overdue", "lifetime_addon")
    await CheckoutSession.filter(
        provider_checkout_session_id=opened["providerCheckoutSessionId"]
    ).update(expires_at=utcnow() - timedelta(minutes=1))
    stripe_standin.expire_session(opened["providerCheckoutSessionId"])

    settings = make_settings(
        stripe_plugins(stripe_standin),
        PAYMENTS_RECONCILE_INTERVAL="0.2",
        PAYMENTS_DELIVERY_POLL_INTERVAL="0.1",
    )
    worker = create_app(settings, connect_database=False, dispatcher=True)
    async with worker.test_app():

        async def repaired() -> bool:
            record = await Subscription.get(id=sub["id"])
            session = await CheckoutSession.get(
                provider_checkout_session_id=opened["providerCheckoutSessionId"]
            )
            return record.status == "canceled" and session.status == "expired"

        await _until(repaired)
    assert (await event_types("tenant_lapsed"))[-1] == "subscription.canceled"
    assert await event_types("tenant_overdue") == ["checkout.expired"]
    reads = await ProviderRead.filter(kind__startswith="reconcile.").values_list(
        "status", flat=True
    )
    assert sorted(str(status) for status in reads) == ["done", "done"]


async def test_two_sweeps_at_once_ask_for_one_read_and_a_current_one_is_left_alone(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    lapsed = await subscribed(api, stripe_standin, "tenant_l")
    await subscribed(api, stripe_standin, "tenant_current")
    await Subscription.filter(id=lapsed["id"]).update(
        current_period_end=utcnow() - timedelta(hours=2)
    )
    asked = await asyncio.gather(sweep_once(), sweep_once())
    assert list(asked) == [1, 1]
    tasks = await ProviderRead.filter(kind="reconcile.subscription").values_list(
        "provider_object_id", "status"
    )
    assert tasks == [(lapsed["providerSubscriptionId"], "pending")]
    # Within the hour after the period's end, the renewal's webhook may still come.
    await Subscription.filter(id=lapsed["id"]).update(
        current_period_end=utcnow() - timedelta(minutes=30)
    )
    await ProviderRead.all().delete()
    assert await sweep_once() == 0
