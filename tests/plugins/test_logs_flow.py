"""The whole flow with JSON logs captured: checkout -> signed Stripe webhooks -> plan status ->
delivery attempts to a consumer. Every line is one JSON object; the request, webhook and
delivery lines carry their fields and the request id; no secret appears anywhere, nor did the
redaction net have to remove one (nothing logged a secret in the first place)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.models import NormalizedEvent
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.catalog import starter_item
from tests.support.consumer_server import ConsumerServer, Respond
from tests.support.deliveries import FAST, funnel_plugins, running_dispatcher, settled
from tests.support.deliveries import SECRET as SIGNING_SECRET
from tests.support.logs import Captured, captured_logs
from tests.support.stripe_standin.plugins_toml import SECRET_KEY, stripe_plugins
from tests.support.stripe_standin.server import StripeStandIn
from tests.support.webhooks import SECRET as WEBHOOK_SECRET

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]
CHECKOUTS = "/internal/payments/checkout-sessions"
WEBHOOK_RULE = "/webhooks/<provider_key>"


async def _signed_post(api: Api, payload: dict[str, Any], request_id: str) -> tuple[int, str]:
    body = se.encode(payload)
    signature = se.sign(body, WEBHOOK_SECRET)
    reply = await api.post(
        "/webhooks/stripe",
        data=body,
        token=None,
        headers={
            "Stripe-Signature": signature,
            "content-type": "application/json",
            "x-request-id": request_id,
        },
    )
    assert reply.status == 200, reply.body
    assert reply.headers["x-request-id"] == request_id
    return reply.status, signature


async def test_the_whole_flow_logs_json_lines_with_ids_and_no_secret(
    checkout_app: Any,
    stripe_standin: StripeStandIn,
    make_settings: Callable[..., Settings],
) -> None:
    async with ConsumerServer(secret=SIGNING_SECRET) as consumer:
        consumer.then(Respond(503))  # the first attempt fails, the retry delivers
        plugins = stripe_plugins(
            stripe_standin, consumers=(), webhook_secrets=WEBHOOK_SECRET
        ) + funnel_plugins(consumer.url, signing_secret=SIGNING_SECRET, token=TOKEN)
        signatures: list[str] = []
        with captured_logs() as logs:
            api: Api = await checkout_app(plugins)
            stripe_standin.add_price("price_starter", 1900, "eur", "month")
            item = starter_item(
                providerPrices=[{"providerKey": "stripe", "providerPriceId": "price_starter"}]
            )
            created = await api.post(
                "/internal/payments/pricing-items", json=item, headers={"x-request-id": "item-1"}
            )
            assert created.status == 201
            opened = await api.post(
                CHECKOUTS,
                headers={"x-request-id": "checkout-1"},
                json={
                    "pricingItemCode": "starter_month",
                    "consumerKey": "funnel",
                    "consumerTenantId": "tenant_logs",
                    "tenantName": "Demo",
                    "billingEmail": "billing@example.test",
                    "successUrl": "https://funnel.test/ok",
                    "cancelUrl": "https://funnel.test/cancel",
                },
            )
            assert opened.status == 201, opened.body
            session = stripe_standin.complete_session(opened.body["providerCheckoutSessionId"])
            subscription = stripe_standin.objects[session["subscription"]]
            now = int(time.time())
            sub_event = se.event("customer.subscription.created", subscription, created=now)
            done_event = se.event("checkout.session.completed", session, created=now)
            for payload, rid in ((sub_event, "hook-1"), (done_event, "hook-2")):
                signatures.append((await _signed_post(api, payload, rid))[1])
            signatures.append((await _signed_post(api, sub_event, "hook-3"))[1])  # a repeat
            plan = await api.get(
                "/internal/payments/tenants/tenant_logs/plan-status",
                headers={"x-request-id": "plan-1"},
            )
            assert plan.status == 200
            assert plan.body["entitled"] is True

            settings = make_settings(plugins, **FAST)
            events = list(await NormalizedEvent.filter(consumer_tenant_id="tenant_logs"))
            assert events
            async with running_dispatcher(settings):
                for event in events:
                    await settled(event, "delivered")

    lines = logs.lines()  # every line parses as one JSON object
    assert lines
    _check_requests(logs)
    _check_webhooks(logs, sub_event["id"], done_event["id"])
    _check_attempts(logs, events)
    text = logs.text
    for secret in (TOKEN, WEBHOOK_SECRET, SIGNING_SECRET, SECRET_KEY, *signatures):
        assert secret not in text
    assert "[redacted]" not in text  # the net never had to catch anything
    assert "billing@example.test" not in text


def _check_requests(logs: Captured) -> None:
    requests = {line["request_id"]: line for line in logs.events("request")}
    assert requests["item-1"]["route"] == "/internal/payments/pricing-items"
    assert (requests["checkout-1"]["route"], requests["checkout-1"]["status"]) == (CHECKOUTS, 201)
    assert requests["plan-1"]["route"] == (
        "/internal/payments/tenants/<consumerTenantId>/plan-status"
    )
    for rid in ("hook-1", "hook-2", "hook-3"):
        line = requests[rid]
        assert (line["method"], line["route"], line["status"]) == ("POST", WEBHOOK_RULE, 200)
        assert line["duration_ms"] >= 0


def _check_webhooks(logs: Captured, subscription_event: str, checkout_event: str) -> None:
    hooks = logs.events("webhook")
    assert [(h["request_id"], h["type"], h["outcome"]) for h in hooks] == [
        ("hook-1", "customer.subscription.created", "processed"),
        ("hook-2", "checkout.session.completed", "processed"),
        ("hook-3", "customer.subscription.created", "duplicate"),
    ]
    assert [h["provider_event_id"] for h in hooks] == [
        subscription_event,
        checkout_event,
        subscription_event,
    ]
    assert {h["provider_key"] for h in hooks} == {"stripe"}


def _check_attempts(logs: Captured, events: list[NormalizedEvent]) -> None:
    attempts = logs.events("delivery_attempt")
    by_event = {str(event.id): event for event in events}
    assert {a["event_id"] for a in attempts} == set(by_event)
    [failed] = [a for a in attempts if a["outcome"] == "retry"]  # the consumer's one 503
    assert (failed["status_code"], failed["attempt"], failed["error"]) == (503, 1, "HTTP 503")
    retried = [a for a in attempts if a["delivery_id"] == failed["delivery_id"]]
    assert [(a["attempt"], a["outcome"]) for a in retried] == [(1, "retry"), (2, "delivered")]
    assert sorted(a["outcome"] for a in attempts) == ["delivered"] * len(events) + ["retry"]
    for attempt in attempts:
        assert attempt["consumer"] == "funnel"
        assert attempt["delivery_id"]
        assert attempt["event_type"] == by_event[attempt["event_id"]].type
        assert attempt["duration_ms"] >= 0
        assert "request_id" not in attempt  # sent by the dispatcher, not in a request
