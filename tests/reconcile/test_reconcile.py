"""Reconcile: what the provider holds, re-read and applied as the lost webhooks would have.

Through the stand-in Stripe: changes made at "Stripe" whose webhooks never came (a cancel in
the dashboard, a refund, a checkout paid while our endpoint was down) are found and applied,
each with the one normalized event its webhook would have written; a second run changes
nothing; a dry run changes nothing; an object deleted at Stripe is reported, never dropped; a
Stripe that fails is reported per object and the command exits 1.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

from core.models import CheckoutSession, NormalizedEvent, Purchase, Subscription
from core.reconcile.objects import Scope
from core.reconcile.run import reconcile
from tests.managing.test_stripe_routes import bought, managing_app, subscribed
from tests.plugins.test_stripe_flow import open_checkout
from tests.support.api import Api
from tests.support.stripe_standin.plugins_toml import stripe_plugins
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import event_types
from web.state import state

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]


def _registry(api: Api) -> Any:
    async def get() -> Any:
        async with api.app.app_context():
            return state().registry

    return get()


async def _drifted(api: Api, standin: StripeStandIn) -> dict[str, Any]:
    """Three tenants whose last change at Stripe never reached us."""
    canceled = await subscribed(api, standin, "tenant_gone")
    standin.objects[canceled["providerSubscriptionId"]].update(
        status="canceled", canceled_at=1, ended_at=2
    )
    refunded = await bought(api, standin, "tenant_refund")
    intent = standin.objects[refunded["providerPaymentId"]]
    standin.objects[intent["latest_charge"]].update(amount_refunded=1000, refunded=False)
    opened = await open_checkout(api, "tenant_paid", "starter_month")
    standin.complete_session(opened["providerCheckoutSessionId"])
    return {"canceled": canceled, "refunded": refunded, "opened": opened}


async def test_reconcile_applies_what_the_lost_webhooks_said_once(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    drift = await _drifted(api, stripe_standin)
    registry = await _registry(api)

    dry = await reconcile(registry, Scope(), dry_run=True)
    assert (dry.checked, dry.changed, dry.errors) == (3, 3, [])
    assert (await Subscription.get(id=drift["canceled"]["id"])).status == "active"
    before = await NormalizedEvent.all().count()

    report = await reconcile(registry, Scope())
    assert (report.checked, report.changed, report.missing, report.errors) == (3, 3, [], [])
    assert (await Subscription.get(id=drift["canceled"]["id"])).status == "canceled"
    purchase = await Purchase.get(id=drift["refunded"]["id"])
    assert (purchase.status, purchase.amount_refunded) == ("partially_refunded", 1000)
    session = await CheckoutSession.get(
        provider_checkout_session_id=drift["opened"]["providerCheckoutSessionId"]
    )
    assert session.status == "complete" and session.subscription_id is not None  # type: ignore[attr-defined]
    assert (await event_types("tenant_gone"))[-1] == "subscription.canceled"
    assert (await event_types("tenant_refund"))[-1] == "purchase.refunded"
    assert sorted(await event_types("tenant_paid")) == [
        "checkout.completed",
        "subscription.created",
    ]
    assert await NormalizedEvent.all().count() == before + 4

    again = await reconcile(registry, Scope())
    assert (again.changed, again.errors) == (0, [])
    assert await NormalizedEvent.all().count() == before + 4


async def test_an_object_deleted_at_the_provider_is_reported_and_kept(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_deleted")
    del stripe_standin.objects[sub["providerSubscriptionId"]]
    report = await reconcile(await _registry(api), Scope(consumer_tenant_id="tenant_deleted"))
    assert report.checked == 1 and report.errors == []
    assert report.missing == [f"subscription {sub['providerSubscriptionId']} (stripe)"]
    assert (await Subscription.get(id=sub["id"])).status == "active"


async def test_a_failing_provider_is_reported_per_object_and_the_rest_is_done(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(
        checkout_app,
        stripe_standin,
    )
    first = await subscribed(api, stripe_standin, "tenant_a")
    second = await subscribed(api, stripe_standin, "tenant_b")
    for sub in (first, second):
        stripe_standin.objects[sub["providerSubscriptionId"]]["cancel_at_period_end"] = True
    stripe_standin.inject(
        "get", f"/v1/subscriptions/{first['providerSubscriptionId']}", "server_error"
    )
    report = await reconcile(await _registry(api), Scope())
    assert (report.checked, report.changed, len(report.errors)) == (2, 1, 1)
    assert report.errors[0][0] == f"subscription {first['providerSubscriptionId']} (stripe)"
    assert (await Subscription.get(id=second["id"])).cancel_at_period_end is True
    retried = await reconcile(await _registry(api), Scope())
    assert (retried.changed, retried.errors) == (1, [])
    assert (await Subscription.get(id=first["id"])).cancel_at_period_end is True


async def test_two_reconciles_at_once_apply_each_change_once(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    await _drifted(api, stripe_standin)
    registry = await _registry(api)
    before = await NormalizedEvent.all().count()
    first, second = await asyncio.gather(reconcile(registry, Scope()), reconcile(registry, Scope()))
    assert first.errors == second.errors == []
    assert await NormalizedEvent.all().count() == before + 4


async def test_the_tenant_route_answers_counts_and_plan_status(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_route")
    await subscribed(api, stripe_standin, "tenant_other")
    stripe_standin.objects[sub["providerSubscriptionId"]].update(status="past_due")
    reply = await api.post(
        "/internal/payments/tenants/tenant_route/reconcile", query={"consumerKey": "funnel"}
    )
    assert reply.status == 200, reply.body
    assert (reply.body["checked"], reply.body["changed"]) == (1, 1)
    assert (reply.body["missingAtProvider"], reply.body["errors"]) == ([], [])
    assert (reply.body["planStatus"]["status"], reply.body["planStatus"]["entitled"]) == (
        "past_due",
        False,
    )
    bad = await api.post(
        "/internal/payments/tenants/tenant_route/reconcile", query={"consumerKey": ""}
    )
    assert (bad.status, bad.body["code"]) == (400, "validation_failed")


async def _command(
    database_url: str, plugins_file: Callable[[str], str], standin: StripeStandIn, *args: str
) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "PAYMENTS_DATABASE_URL": database_url,
        "PAYMENTS_INTERNAL_TOKEN": "test-internal-token",
        "PAYMENTS_PLUGINS_FILE": plugins_file(stripe_plugins(standin)),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from web.cli import main; main()",
        "reconcile",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_summarizes_and_exits_1_when_some_could_not_be_read(
    checkout_app: Any,
    stripe_standin: StripeStandIn,
    database_url: str,
    plugins_file: Callable[[str], str],
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_cli")
    stripe_standin.objects[sub["providerSubscriptionId"]]["cancel_at_period_end"] = True

    code, out, _ = await _command(database_url, plugins_file, stripe_standin, "--dry-run")
    assert code == 0, out
    assert "checked 1, would change 1, missing at provider 0, errors 0" in out
    assert (await Subscription.get(id=sub["id"])).cancel_at_period_end is False

    code, out, _ = await _command(
        database_url, plugins_file, stripe_standin, "--tenant", "tenant_cli"
    )
    assert (code, out.splitlines()[0]) == (
        0,
        "payments reconcile: checked 1, changed 1, missing at provider 0, errors 0",
    )
    assert (await Subscription.get(id=sub["id"])).cancel_at_period_end is True

    stripe_standin.inject("get", "/v1/subscriptions/", "server_error", times=10)
    code, out, _ = await _command(database_url, plugins_file, stripe_standin)
    assert code == 1
    assert "errors 1" in out and f"error: subscription {sub['providerSubscriptionId']}" in out

    code, _, err = await _command(database_url, plugins_file, stripe_standin, "--provider", "nope")
    assert code == 2 and "provider 'nope' is not enabled" in err
