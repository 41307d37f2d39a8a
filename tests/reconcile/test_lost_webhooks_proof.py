"""The proof: 30% of the webhooks lost at random over 200 tenants' lifecycles, then one
`reconcile`, and local state equals the provider's.

Each tenant subscribes (or buys once, or abandons its checkout) through the stand-in Stripe;
then "Stripe" moves it on (cancel at period end, cancel now, past_due, a plan change, a
refund, an expired checkout), each move with the webhook Stripe would send. A seeded 30% of
those webhooks are never posted. After reconcile every subscription, purchase and checkout
session equals the stand-in's object, and every change a consumer should have heard of was
told exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

from core.models import CheckoutSession, NormalizedEvent, Purchase, Subscription
from core.reconcile.objects import Scope
from core.reconcile.run import reconcile
from tests.managing.test_stripe_routes import managing_app
from tests.plugins.test_stripe_flow import open_checkout
from tests.support.api import Api
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import post_event
from web.state import state

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
TENANTS = 200
LOSS = 0.3
PURCHASE_STATUS = {"succeeded": "paid"}


class Lossy:
    """Posts a webhook about a stand-in object, or loses it (30%, seeded)."""

    def __init__(self, api: Api, standin: StripeStandIn, seed: int) -> None:
        self.api, self.standin, self.random = api, standin, random.Random(seed)
        self.sent = self.lost = 0

    async def __call__(self, event_type: str, object_id: str) -> None:
        if self.random.random() < LOSS:
            self.lost += 1
            return
        self.sent += 1
        reply = await post_event(self.api, self.standin.event(event_type, object_id))
        assert reply.status == 200, reply.body


async def _subscriber(
    api: Api, standin: StripeStandIn, hook: Lossy, tenant: str, rng: random.Random
) -> None:
    opened = await open_checkout(api, tenant, "starter_month")
    session_id = opened["providerCheckoutSessionId"]
    if rng.random() < 0.1:
        if rng.random() < 0.5:
            standin.expire_session(session_id)
            await hook("checkout.session.expired", session_id)
        return
    session = standin.complete_session(session_id)
    sub_id = session["subscription"]
    await hook("customer.subscription.created", sub_id)
    await hook("checkout.session.completed", session_id)
    sub = standin.objects[sub_id]
    move = rng.random()
    if move < 0.25:
        sub.update(
            cancel_at_period_end=True,
            canceled_at=_now(),
            cancel_at=sub["items"]["data"][0]["current_period_end"],
        )
        await hook("customer.subscription.updated", sub_id)
    elif move < 0.4:
        sub.update(status="canceled", canceled_at=_now(), ended_at=_now())
        await hook("customer.subscription.deleted", sub_id)
    elif move < 0.55:
        sub.update(status="past_due")
        await hook("customer.subscription.updated", sub_id)
    elif move < 0.7:
        sub["items"]["data"][0]["price"] = standin.objects["price_pro"]
        await hook("customer.subscription.updated", sub_id)


def _now() -> int:
    return int(time.time())


async def _buyer(
    api: Api, standin: StripeStandIn, hook: Lossy, tenant: str, rng: random.Random
) -> None:
    opened = await open_checkout(api, tenant, "lifetime_addon")
    session_id = opened["providerCheckoutSessionId"]
    session = standin.complete_session(session_id)
    await hook("checkout.session.completed", session_id)
    if rng.random() < 0.4:
        charge = standin.objects[standin.objects[session["payment_intent"]]["latest_charge"]]
        refunded = rng.choice([1000, int(charge["amount"])])
        charge.update(amount_refunded=refunded, refunded=refunded >= int(charge["amount"]))
        await hook("charge.refunded", charge["id"])


async def _lifecycles(api: Api, standin: StripeStandIn, hook: Lossy, seed: int) -> None:
    rng = random.Random(seed)
    for number in range(TENANTS):
        tenant = f"tenant_{number:03d}"
        if rng.random() < 0.7:
            await _subscriber(api, standin, hook, tenant, rng)
        else:
            await _buyer(api, standin, hook, tenant, rng)


async def _assert_equal_to_the_standin(standin: StripeStandIn) -> None:
    for record in await Subscription.all():
        remote = standin.objects[record.provider_subscription_id]
        price = remote["items"]["data"][0]["price"]["id"]
        assert (record.status, record.cancel_at_period_end, record.pricing_item_code) == (
            remote["status"],
            bool(remote["cancel_at_period_end"]),
            "pro_month" if price == "price_pro" else "starter_month",
        ), record.provider_subscription_id
    for session in await CheckoutSession.all():
        remote = standin.objects[session.provider_checkout_session_id]
        assert session.status == remote["status"], session.provider_checkout_session_id
    for purchase in await Purchase.all():
        intent = standin.objects[purchase.provider_payment_id]
        charge = standin.objects[intent["latest_charge"]]
        refunded = int(charge["amount_refunded"])
        expected = (
            "paid" if refunded == 0 else "refunded" if charge["refunded"] else "partially_refunded"
        )
        assert (purchase.status, purchase.amount_refunded) == (expected, refunded)
    completed = [s for s in standin.of_type("checkout.session") if s["status"] == "complete"]
    made = standin.of_type("subscription")
    assert await Subscription.all().count() == len(made)
    assert await Purchase.all().count() == len([s for s in completed if s["mode"] == "payment"])


async def _assert_told_once_each() -> None:
    """Each record's events: created or paid once, canceled at most once, and no two events
    telling the same state of one record."""
    told: Counter[tuple[str, str, str]] = Counter()
    for event in await NormalizedEvent.all():
        data: dict[str, Any] = dict(event.data)
        record = data.get("subscription") or data.get("purchase") or data.get("checkoutSession")
        assert isinstance(record, dict)
        state_of = {k: v for k, v in record.items() if k not in ("updatedAt", "createdAt")}
        told[(event.type, str(record["id"]), repr(sorted(state_of.items())))] += 1
    assert [key for key, count in told.items() if count > 1] == []
    per_record = Counter((kind, record_id) for kind, record_id, _ in told)
    for subscription in await Subscription.all():
        created = per_record[("subscription.created", str(subscription.id))]
        canceled = per_record[("subscription.canceled", str(subscription.id))]
        assert canceled == (1 if subscription.status == "canceled" else 0)
        # One first seen already canceled is told once, as canceled (`appliers.subscriptions`).
        assert created == 1 or (created == 0 and canceled == 1), subscription.id
    for purchase in await Purchase.all():
        assert per_record[("purchase.paid", str(purchase.id))] == 1
        refunds = per_record[("purchase.refunded", str(purchase.id))]
        assert refunds == (0 if purchase.amount_refunded == 0 else 1)
    for session in await CheckoutSession.all():
        done = {"complete": "checkout.completed", "expired": "checkout.expired"}.get(session.status)
        if done:
            assert per_record[(done, str(session.id))] == 1


async def test_thirty_percent_of_webhooks_lost_and_one_reconcile_repairs_it_all(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    hook = Lossy(api, stripe_standin, seed=30)
    await _lifecycles(api, stripe_standin, hook, seed=200)
    assert hook.lost > 0.2 * (hook.sent + hook.lost)
    await asyncio.sleep(1.5)  # every read begins after the last webhook's second (READ_MARGIN)
    async with api.app.app_context():
        registry = state().registry
    report = await reconcile(registry, Scope())
    assert report.errors == [] and report.missing == []
    assert report.changed > 0
    await _assert_equal_to_the_standin(stripe_standin)
    await _assert_told_once_each()
    again = await reconcile(registry, Scope())
    assert (again.changed, again.errors) == (0, [])
