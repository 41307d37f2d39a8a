"""Managing what was bought, end to end: the routes, the Stripe plugin, the stand-in Stripe.

Every action answers the new state at once; the webhook Stripe sends about it afterwards
changes nothing and emits nothing more. Bad input and provider failures change nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.models import Dispute, Invoice, Purchase, Subscription
from tests.plugins.test_stripe_flow import CHECKOUTS, ITEMS, flow_app, open_checkout
from tests.support.api import Api
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import event_types, post_event

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
SUBS = "/internal/payments/subscriptions"
PURCHASES = "/internal/payments/purchases"


async def managing_app(checkout_app: Any, standin: StripeStandIn) -> Api:
    api = await flow_app(checkout_app, standin)
    standin.add_price("price_pro", 4900, "eur", "month")
    pro = {
        "code": "pro_month",
        "name": "Pro",
        "kind": "recurring",
        "unitAmount": 4900,
        "currency": "eur",
        "interval": "month",
        "features": {"funnels": 50},
        "providerPrices": [{"providerKey": "stripe", "providerPriceId": "price_pro"}],
    }
    assert (await api.post(ITEMS, json=pro)).status == 201
    return api


async def subscribed(api: Api, standin: StripeStandIn, tenant: str) -> dict[str, Any]:
    """A tenant with an active Starter subscription (its webhooks applied); our record."""
    opened = await open_checkout(api, tenant, "starter_month")
    session = standin.complete_session(opened["providerCheckoutSessionId"])
    now = int(time.time())
    await post_event(
        api, standin.event("customer.subscription.created", session["subscription"], created=now)
    )
    await post_event(api, standin.event("checkout.session.completed", session["id"], created=now))
    listed = (await api.get(SUBS, query={"consumerTenantId": tenant})).body["data"]
    assert [s["status"] for s in listed] == ["active"]
    record: dict[str, Any] = listed[0]
    return record


async def bought(api: Api, standin: StripeStandIn, tenant: str) -> dict[str, Any]:
    """A tenant with a paid one-time Lifetime purchase; our record."""
    opened = await open_checkout(api, tenant, "lifetime_addon")
    session = standin.complete_session(opened["providerCheckoutSessionId"])
    await post_event(api, standin.event("checkout.session.completed", session["id"]))
    listed = (await api.get(PURCHASES, query={"consumerTenantId": tenant})).body["data"]
    assert [p["status"] for p in listed] == ["paid"]
    record: dict[str, Any] = listed[0]
    return record


async def test_the_provider_lists_its_new_capabilities(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    stripe = (await api.get("/internal/payments/providers")).body["data"][0]
    assert stripe["capabilities"] == [
        "checkout.subscription",
        "checkout.payment",
        "webhooks",
        "subscription.cancel",
        "subscription.resume",
        "subscription.change",
        "portal",
        "refund",
        "invoices",
        "disputes",
    ]


async def test_cancel_at_period_end_resume_then_cancel_now(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_c")
    provider_id = sub["providerSubscriptionId"]

    canceling = await api.post(f"{SUBS}/{sub['id']}/cancel", json={})
    assert canceling.status == 200, canceling.body
    assert (canceling.body["status"], canceling.body["cancelAtPeriodEnd"]) == ("active", True)
    plan = (await api.get("/internal/payments/tenants/tenant_c/plan-status")).body
    assert (plan["entitled"], plan["subscription"]["cancelAtPeriodEnd"]) == (True, True)
    await post_event(api, stripe_standin.event("customer.subscription.updated", provider_id))

    resumed = await api.post(f"{SUBS}/{sub['id']}/resume")
    assert (resumed.status, resumed.body["cancelAtPeriodEnd"]) == (200, False)
    again = await api.post(f"{SUBS}/{sub['id']}/resume")
    assert (again.status, again.body["code"]) == (409, "subscription_not_resumable")
    await post_event(api, stripe_standin.event("customer.subscription.updated", provider_id))

    ended = await api.post(f"{SUBS}/{provider_id}/cancel", json={"atPeriodEnd": False})
    assert (ended.status, ended.body["status"]) == (200, "canceled")
    assert ended.body["canceledAt"] is not None
    await post_event(api, stripe_standin.event("customer.subscription.deleted", provider_id))
    refused = await api.post(f"{SUBS}/{sub['id']}/cancel")
    assert (refused.status, refused.body["code"]) == (409, "subscription_not_active")
    assert (await api.get("/internal/payments/tenants/tenant_c/plan-status")).body[
        "entitled"
    ] is False

    assert await event_types("tenant_c") == [
        "subscription.created",
        "checkout.completed",
        "subscription.updated",
        "subscription.updated",
        "subscription.canceled",
    ]
    assert stripe_standin.objects[provider_id]["status"] == "canceled"


async def test_a_change_moves_the_plan_and_a_preview_changes_nothing(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_p")
    path = f"{SUBS}/{sub['id']}/change"

    preview = await api.post(path, json={"pricingItemCode": "pro_month", "preview": True})
    assert preview.status == 200, preview.body
    assert preview.body["currency"] == "eur" and preview.body["amountDue"] > 0
    assert [line["amount"] < 0 for line in preview.body["lines"]] == [True, False]
    assert not stripe_standin.requests_to(
        "post", f"/v1/subscriptions/{sub['providerSubscriptionId']}"
    )

    changed = await api.post(path, json={"pricingItemCode": "pro_month", "proration": "none"})
    assert (changed.status, changed.body["pricingItemCode"]) == (200, "pro_month")
    remote = stripe_standin.objects[sub["providerSubscriptionId"]]
    assert remote["items"]["data"][0]["price"]["id"] == "price_pro"
    plan = (await api.get("/internal/payments/tenants/tenant_p/plan-status")).body
    assert (plan["plan"]["code"], plan["features"]) == ("pro_month", {"funnels": 50})
    await post_event(
        api, stripe_standin.event("customer.subscription.updated", sub["providerSubscriptionId"])
    )
    assert await event_types("tenant_p") == [
        "subscription.created",
        "checkout.completed",
        "subscription.updated",
    ]

    one_time = await api.post(path, json={"pricingItemCode": "lifetime_addon"})
    assert (one_time.status, one_time.body["code"]) == (422, "pricing_item_unavailable")
    same = await api.post(path, json={"pricingItemCode": "pro_month"})
    assert (same.status, same.body["code"]) == (409, "subscription_plan_unchanged")
    assert (await api.delete(f"{ITEMS}/starter_month")).status == 204
    archived = await api.post(path, json={"pricingItemCode": "starter_month"})
    assert (archived.status, archived.body["code"]) == (422, "pricing_item_unavailable")
    bad = await api.post(path, json={"pricingItemCode": "pro_month", "proration": "sometimes"})
    assert (bad.status, bad.body["code"]) == (400, "validation_failed")


async def test_refunds_partial_then_the_rest_then_nothing_is_left(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    purchase = await bought(api, stripe_standin, "tenant_r")
    path = f"{PURCHASES}/{purchase['id']}/refunds"

    part = await api.post(path, json={"amount": 1000, "reason": "requested_by_customer"})
    assert part.status == 201, part.body
    assert (part.body["status"], part.body["amountRefunded"]) == ("partially_refunded", 1000)
    too_much = await api.post(path, json={"amount": 3901})
    assert (too_much.status, too_much.body["code"]) == (422, "refund_exceeds_remaining")
    rest = await api.post(path, json={})
    assert (rest.status, rest.body["status"], rest.body["amountRefunded"]) == (
        201,
        "refunded",
        4900,
    )
    nothing = await api.post(path)
    assert (nothing.status, nothing.body["code"]) == (422, "refund_exceeds_remaining")
    charge = stripe_standin.objects[purchase["providerPaymentId"]]["latest_charge"]
    await post_event(api, stripe_standin.event("charge.refunded", charge))
    assert await event_types("tenant_r") == [
        "checkout.completed",
        "purchase.paid",
        "purchase.refunded",
        "purchase.refunded",
    ]
    assert len(stripe_standin.requests_to("post", "/v1/refunds")) == 2


async def test_a_retried_request_gets_the_first_answer_and_asks_stripe_once(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    purchase = await bought(api, stripe_standin, "tenant_i")
    path = f"{PURCHASES}/{purchase['id']}/refunds"
    key = {"Idempotency-Key": "refund-1"}
    first = await api.post(path, json={"amount": 900}, headers=key)
    second = await api.post(path, json={"amount": 900}, headers=key)
    assert (first.status, second.status, second.body) == (201, 201, first.body)
    assert len(stripe_standin.requests_to("post", "/v1/refunds")) == 1
    other = await api.post(path, json={"amount": 500}, headers=key)
    assert (other.status, other.body["code"]) == (409, "idempotency_key_reused")
    assert (await Purchase.get(id=purchase["id"])).amount_refunded == 900


async def test_a_failing_stripe_is_a_502_and_changes_nothing(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_f")
    stripe_standin.inject(
        "post", f"/v1/subscriptions/{sub['providerSubscriptionId']}", "server_error"
    )
    failed = await api.post(f"{SUBS}/{sub['id']}/cancel")
    assert (failed.status, failed.body["code"]) == (502, "provider_error")
    record = await Subscription.get(id=sub["id"])
    assert (record.status, record.cancel_at_period_end) == ("active", False)
    assert await event_types("tenant_f") == ["subscription.created", "checkout.completed"]
    # The caller may retry with the same key once Stripe answers again.
    retried = await api.post(f"{SUBS}/{sub['id']}/cancel", headers={"Idempotency-Key": "c-1"})
    assert (retried.status, retried.body["cancelAtPeriodEnd"]) == (200, True)


async def test_another_consumers_record_and_unknown_ids_are_404_and_ask_nothing(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_o")
    purchase = await bought(api, stripe_standin, "tenant_o2")
    before = len(stripe_standin.requests)
    for path, body in (
        (f"{SUBS}/{sub['id']}/cancel", {"consumerKey": "other"}),
        (f"{SUBS}/{sub['id']}/change", {"consumerKey": "other", "pricingItemCode": "pro_month"}),
        (f"{PURCHASES}/{purchase['id']}/refunds", {"consumerKey": "other"}),
        (f"{SUBS}/00000000-0000-0000-0000-000000000000/cancel", {}),
        (f"{SUBS}/not-a-uuid/resume", {}),
        (f"{PURCHASES}/{'x' * 300}/refunds", {}),
    ):
        reply = await api.post(path, json=body)
        assert reply.status == 404, (path, reply.body)
        # (an id too long to name anything is refused before routing: `not_found`)
        assert reply.body["code"] in ("subscription_not_found", "purchase_not_found", "not_found")
    scoped = await api.post(f"{SUBS}/{sub['id']}/cancel", query={"consumerKey": "other"})
    assert scoped.status == 404
    assert len(stripe_standin.requests) == before
    mine = await api.post(f"{SUBS}/{sub['id']}/cancel", json={"consumerKey": "funnel"})
    assert mine.status == 200


async def test_a_portal_session_for_the_tenants_customer(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    await subscribed(api, stripe_standin, "tenant_portal")
    body = {
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_portal",
        "returnUrl": "https://funnel.test/#/billing",
    }
    opened = await api.post("/internal/payments/portal-sessions", json=body)
    assert opened.status == 201, opened.body
    assert opened.body["url"].startswith("https://billing.stripe.com/")
    assert (opened.body["providerKey"], opened.body["expiresAt"]) == ("stripe", None)
    sent = stripe_standin.requests_to("post", "/v1/billing_portal/sessions")[-1]
    assert sent.params["return_url"] == "https://funnel.test/#/billing"
    nobody = await api.post(
        "/internal/payments/portal-sessions", json={**body, "consumerTenantId": "nobody"}
    )
    assert (nobody.status, nobody.body["code"]) == (404, "customer_not_found")


async def test_invoices_and_a_lost_dispute_through_webhooks(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_d")
    invoice = stripe_standin.invoice(sub["providerSubscriptionId"])
    await post_event(api, stripe_standin.event("invoice.paid", invoice["id"]))
    listed = (
        await api.get("/internal/payments/invoices", query={"subscriptionId": sub["id"]})
    ).body
    assert [(i["providerInvoiceId"], i["status"]) for i in listed["data"]] == [
        (invoice["id"], "paid")
    ]
    assert listed["data"][0]["number"] == invoice["number"]

    purchase = await bought(api, stripe_standin, "tenant_d")
    disputed = stripe_standin.dispute(purchase["providerPaymentId"])
    await post_event(api, stripe_standin.event("charge.dispute.created", disputed["id"]))
    stripe_standin.dispute(purchase["providerPaymentId"], status="lost")
    await post_event(api, stripe_standin.event("charge.dispute.closed", disputed["id"]))
    disputes = (await api.get("/internal/payments/disputes", query={"status": "lost"})).body
    assert [d["purchaseId"] for d in disputes["data"]] == [purchase["id"]]
    plan = (await api.get("/internal/payments/tenants/tenant_d/plan-status")).body
    assert plan["purchases"] == [] and plan["features"] == {"funnels": 5}
    types = await event_types("tenant_d")
    assert types.count("invoice.paid") == 1
    assert types[-2:] == ["dispute.opened", "dispute.closed"]
    assert await Invoice.all().count() == 1 and await Dispute.all().count() == 1


async def test_checkout_guards_one_live_subscription_and_one_trial(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_g")
    body = {
        "pricingItemCode": "pro_month",
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_g",
        "successUrl": "https://funnel.test/ok",
        "cancelUrl": "https://funnel.test/cancel",
    }
    refused = await api.post(CHECKOUTS, json=body)
    assert (refused.status, refused.body["code"]) == (409, "subscription_exists")
    allowed = await api.post(CHECKOUTS, json={**body, "allowAdditionalSubscription": True})
    assert allowed.status == 201, allowed.body
    one_time = await api.post(CHECKOUTS, json={**body, "pricingItemCode": "lifetime_addon"})
    assert one_time.status == 201

    assert (await api.post(f"{SUBS}/{sub['id']}/cancel", json={"atPeriodEnd": False})).status == 200
    assert (await api.patch(f"{ITEMS}/pro_month", json={"trialDays": 14})).status == 200
    again = await api.post(
        CHECKOUTS, json={**body, "allowPromotionCodes": True, "automaticTax": True}
    )
    assert again.status == 201, again.body
    sent = stripe_standin.requests_to("post", "/v1/checkout/sessions")[-1].params
    assert "trial_period_days" not in (sent.get("subscription_data") or {})
    assert sent["allow_promotion_codes"] is True
    assert sent["automatic_tax"]["enabled"] is True
    fresh = await api.post(CHECKOUTS, json={**body, "consumerTenantId": "tenant_new"})
    assert fresh.status == 201
    first = stripe_standin.requests_to("post", "/v1/checkout/sessions")[-1].params
    assert first["subscription_data"]["trial_period_days"] == 14


async def test_two_actions_at_once_end_equal_to_stripe(
    checkout_app: Any, stripe_standin: StripeStandIn
) -> None:
    api = await managing_app(checkout_app, stripe_standin)
    sub = await subscribed(api, stripe_standin, "tenant_race")
    cancel, change = await asyncio.gather(
        api.post(f"{SUBS}/{sub['id']}/cancel"),
        api.post(f"{SUBS}/{sub['id']}/change", json={"pricingItemCode": "pro_month"}),
    )
    assert (cancel.status, change.status) == (200, 200)
    remote = stripe_standin.objects[sub["providerSubscriptionId"]]
    record = await Subscription.get(id=sub["id"])
    assert (record.cancel_at_period_end, record.pricing_item_code, record.status) == (
        remote["cancel_at_period_end"],
        "pro_month",
        remote["status"],
    )
    assert remote["cancel_at_period_end"] is True
