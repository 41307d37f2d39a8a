"""Every route's answers match what `/openapi.json` documents for their status.

One scenario goes through every documented route on the sandbox provider (a checkout paid,
its webhooks, the records and plan status it makes, deliveries, the sandbox's controls and
inbox) and some of each route's documented errors; every JSON answer is checked against
the schema documented for its status, and every documented route must have been checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.delivery.outbox import event_body
from core.events import EVENT_TYPES
from core.models import EventDelivery, NormalizedEvent, Purchase
from tests.plugins.test_sandbox_flow import (
    CHECKOUTS,
    CONTROLS,
    ITEMS,
    Served,
    add_items,
    click,
    open_checkout,
    paid_subscription,
    serve_app,  # noqa: F401  (a fixture, used by name)
)
from tests.support.api import Api, Reply
from tests.web.test_openapi import event_schema, event_validator, openapi, response_validator

NO_JSON_BODY = {("delete", "/internal/payments/pricing-items/{id}")}
"""Documented without a JSON answer for success (204)."""


class Checked:
    """Validates answers against the document and remembers which routes were checked."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.routes: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, reply: Reply) -> Reply:
        responses = self.document["paths"][path][method]["responses"]
        assert str(reply.status) in responses, (method, path, reply.status, reply.body)
        if reply.body is not None:
            response_validator(self.document, path, method, reply.status).validate(reply.body)
        self.routes.add((method, path))
        return reply


@pytest.fixture
async def sandbox_app(serve_app: Callable[..., Any]) -> Served:  # noqa: F811
    served: Served = await serve_app()
    await add_items(served.api)
    return served


async def test_every_route_answers_as_documented(sandbox_app: Served) -> None:
    api: Api = sandbox_app.api
    document = await openapi(api)
    check = Checked(document)
    await _catalog(api, check)
    await _checkout(sandbox_app, check)
    await _billing(sandbox_app, check)
    await _managing(sandbox_app, check)
    await _deliveries(api, check)
    await _provider_events(api, check)
    await _webhooks_and_inbox(api, check)
    await _documents(api, check)
    documented = {
        (method, route) for route, methods in document["paths"].items() for method in methods
    }
    assert documented - NO_JSON_BODY <= check.routes, documented - NO_JSON_BODY - check.routes
    await _events_match_their_webhooks(document)


EMITTED_BY_THE_SCENARIO = set(EVENT_TYPES)
"""Every type shows up in the scenario, so each webhook schema is checked against real events."""


async def _events_match_their_webhooks(document: dict[str, Any]) -> None:
    """Every normalized event the scenario stored, as the dispatcher sends it, matches the
    `webhooks` entry of its type, with no field the document does not name."""
    events = await NormalizedEvent.all()
    seen: set[str] = set()
    for event in events:
        body = _wire(event_body(event))
        event_validator(document, event.type).validate(body)
        schema = event_schema(document, event.type)
        assert set(body) == set(schema["properties"]), event.type
        data_name = schema["properties"]["data"]["$ref"].rsplit("/", 1)[1]
        data_schema = document["components"]["schemas"][data_name]
        assert set(body["data"]) == set(data_schema["properties"]), event.type
        for key, value in body["data"].items():
            if isinstance(value, dict):
                record = data_schema["properties"][key]["$ref"].rsplit("/", 1)[1]
                documented = set(document["components"]["schemas"][record]["properties"])
                assert set(value) == documented, (event.type, set(value) ^ documented)
        seen.add(event.type)
    assert seen >= EMITTED_BY_THE_SCENARIO, EMITTED_BY_THE_SCENARIO - seen


def _wire(body: dict[str, Any]) -> Any:
    """The body as JSON bytes carry it (what the dispatcher posts)."""
    import orjson

    return orjson.loads(orjson.dumps(body))


async def _documents(api: Api, check: Checked) -> None:
    metrics = check("get", "/metrics", await api.get("/metrics", token=None))
    assert metrics.status == 200 and metrics.body is None
    check("get", "/openapi.json", await api.get("/openapi.json", token=None))
    check("get", "/docs", await api.get("/docs", token=None))
    asset = "/docs/assets/{name}"
    check("get", asset, await api.get("/docs/assets/swagger-ui.css", token=None))
    check("get", asset, await api.get("/docs/assets/nothing.js", token=None))


async def _catalog(api: Api, check: Checked) -> None:

    check("get", "/health", await api.get("/health", token=None))
    check("get", "/ready", await api.get("/ready", token=None))
    check("get", "/internal/payments/providers", await api.get("/internal/payments/providers"))

    items = check("get", ITEMS, await api.get(ITEMS)).body["data"]
    item_id = next(i["id"] for i in items if i["code"] == "lifetime_addon")
    check("get", ITEMS, await api.get(ITEMS, query={"kind": "nonsense"}))
    check(
        "get",
        "/internal/payments/public/pricing-items",
        await api.get("/internal/payments/public/pricing-items"),
    )
    extra = {"code": "extra", "name": "E", "kind": "one_time", "unitAmount": 5, "currency": "usd"}
    created = check("post", ITEMS, await api.post(ITEMS, json=extra))
    check("post", ITEMS, await api.post(ITEMS, json=extra))  # 409: the code is taken
    check("post", ITEMS, await api.post(ITEMS, json={"code": "x"}))  # 400
    one = f"{ITEMS}/{{id}}"
    check("patch", one, await api.patch(f"{ITEMS}/{item_id}", json={"name": "Lifetime"}))
    check("patch", one, await api.patch(f"{ITEMS}/missing", json={"name": "x"}))
    check("patch", one, await api.patch(f"{ITEMS}/{item_id}", json={"unitAmount": "19"}))
    deleted = await api.delete(f"{ITEMS}/{created.body['id']}")
    assert deleted.status == 204
    check("delete", one, await api.delete(f"{ITEMS}/missing"))


async def _checkout(served: Served, check: Checked) -> None:
    api = served.api
    session = await open_checkout(api, item="lifetime_addon", tenant="tenant_docs")
    check("post", CHECKOUTS, await api.post(CHECKOUTS, json={"pricingItemCode": "nope"}))
    sid = session["providerCheckoutSessionId"]
    path = f"{CHECKOUTS}/{{providerCheckoutSessionId}}"
    check("get", path, await api.get(f"{CHECKOUTS}/{sid}"))
    check("get", path, await api.get(f"{CHECKOUTS}/cs_missing"))
    check(
        "post",
        f"{CONTROLS}/checkout-sessions/{{session_id}}/expire",
        await api.post(f"{CONTROLS}/checkout-sessions/{sid}/expire"),
    )
    opened = await open_checkout(api, tenant="tenant_docs")
    check(
        "post",
        CHECKOUTS,
        await api.post(CHECKOUTS, json={**_checkout_body(), "pricingItemCode": "starter_month"}),
    )
    assert (await click(api, opened, "pay")).status == 303
    unknown = {**_checkout_body(), "pricingItemCode": "lifetime_addon", "consumerKey": "crm"}
    assert check("post", CHECKOUTS, await api.post(CHECKOUTS, json=unknown)).status == 422
    declined = await open_checkout(api, item="lifetime_addon", tenant="tenant_declined")
    assert (await click(api, declined, "decline")).status == 303  # purchase.failed


async def _billing(served: Served, check: Checked) -> None:
    api = served.api
    sub_id = await paid_subscription(served, tenant="tenant_subs")
    for control in ("fail-next-payment", "renew", "cancel"):
        route = f"{CONTROLS}/subscriptions/{{subscription_id}}/{control}"
        check("post", route, await api.post(f"{CONTROLS}/subscriptions/{sub_id}/{control}"))
        check("post", route, await api.post(f"{CONTROLS}/subscriptions/sub_missing/{control}"))

    bought = await open_checkout(api, item="lifetime_addon", tenant="tenant_subs")
    assert (await click(api, bought, "pay")).status == 303
    payment = (await Purchase.get(consumer_tenant_id="tenant_subs")).provider_payment_id
    dispute = f"{CONTROLS}/payment-intents/{{payment_id}}/dispute"
    for status in ("needs_response", "nonsense", "lost", "won"):  # 200, 400, 200, 409
        moved = await api.post(
            f"{CONTROLS}/payment-intents/{payment}/dispute", json={"status": status}
        )
        check("post", dispute, moved)
    check(
        "post", dispute, await api.post(f"{CONTROLS}/payment-intents/pi_missing/dispute", json={})
    )

    for listing in ("subscriptions", "purchases"):
        route = f"/internal/payments/{listing}"
        check("get", route, await api.get(route, query={"consumerTenantId": "tenant_subs"}))
        check("get", route, await api.get(route, query={"limit": "0"}))
    plan = "/internal/payments/tenants/{consumerTenantId}/plan-status"
    check("get", plan, await api.get("/internal/payments/tenants/tenant_subs/plan-status"))
    check("get", plan, await api.get("/internal/payments/tenants/nobody/plan-status"))
    reconcile = "/internal/payments/tenants/{consumerTenantId}/reconcile"
    check("post", reconcile, await api.post("/internal/payments/tenants/tenant_subs/reconcile"))
    check(
        "post",
        reconcile,
        await api.post(
            "/internal/payments/tenants/tenant_subs/reconcile", query={"consumerKey": ""}
        ),
    )
    check(
        "get",
        plan,
        await api.get(
            "/internal/payments/tenants/tenant_subs/plan-status", query={"consumerKey": ""}
        ),
    )


async def _managing(served: Served, check: Checked) -> None:
    api = served.api
    sub_id = await paid_subscription(served, tenant="tenant_manage")
    record = (
        await api.get(
            "/internal/payments/subscriptions", query={"consumerTenantId": "tenant_manage"}
        )
    ).body["data"][0]
    subs = "/internal/payments/subscriptions"
    for action, body in (
        ("change", {"pricingItemCode": "trial_year", "preview": True}),
        ("change", {"pricingItemCode": "trial_year"}),
        ("change", {"pricingItemCode": "lifetime_addon"}),
        ("change", {"pricingItemCode": 5}),
        ("cancel", {}),
        ("resume", {}),
        ("resume", {}),
        ("cancel", {"atPeriodEnd": False}),
        ("cancel", {}),
    ):
        route = f"{subs}/{{id}}/{action}"
        check("post", route, await api.post(f"{subs}/{record['id']}/{action}", json=body))
        check("post", route, await api.post(f"{subs}/missing/{action}", json=body))
    assert sub_id
    purchase = await open_checkout(api, item="lifetime_addon", tenant="tenant_manage")
    assert (await click(api, purchase, "pay")).status == 303
    bought = (
        await api.get("/internal/payments/purchases", query={"consumerTenantId": "tenant_manage"})
    ).body["data"][0]
    refunds = "/internal/payments/purchases/{id}/refunds"
    path = f"/internal/payments/purchases/{bought['id']}/refunds"
    check("post", refunds, await api.post(path, json={"amount": 100}))
    check("post", refunds, await api.post(path, json={"amount": 10**9}))
    check("post", refunds, await api.post(path, json={"amount": -1}))
    check("post", refunds, await api.post("/internal/payments/purchases/missing/refunds", json={}))
    portal = "/internal/payments/portal-sessions"
    wanted = {
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_manage",
        "returnUrl": "http://funnel.test/billing",
    }
    check("post", portal, await api.post(portal, json=wanted))
    check("post", portal, await api.post(portal, json={**wanted, "consumerTenantId": "nobody"}))
    check("post", portal, await api.post(portal, json={**wanted, "returnUrl": "nope"}))
    for listing in ("invoices", "disputes"):
        route = f"/internal/payments/{listing}"
        check("get", route, await api.get(route, query={"consumerTenantId": "tenant_manage"}))
        check("get", route, await api.get(route, query={"status": "nonsense"}))
    reconcile = "/internal/payments/tenants/{consumerTenantId}/reconcile"
    tenant = "/internal/payments/tenants/tenant_manage/reconcile"
    check("post", reconcile, await api.post(tenant))
    check("post", reconcile, await api.post(tenant, query={"consumerKey": ""}))


async def _deliveries(api: Api, check: Checked) -> None:
    deliveries = "/internal/payments/event-deliveries"
    listed = check("get", deliveries, await api.get(deliveries))
    check("get", deliveries, await api.get(deliveries, query={"status": "nonsense"}))
    delivery_id = str((await EventDelivery.all().first()).id)  # type: ignore[union-attr]
    assert listed.body["data"]
    check("get", f"{deliveries}/{{id}}", await api.get(f"{deliveries}/{delivery_id}"))
    check("get", f"{deliveries}/{{id}}", await api.get(f"{deliveries}/missing"))
    retry = f"{deliveries}/{{id}}/retry"
    check("post", retry, await api.post(f"{deliveries}/{delivery_id}/retry"))
    check("post", retry, await api.post(f"{deliveries}/missing/retry"))
    bulk = f"{deliveries}/retry"
    check("post", bulk, await api.post(bulk, json={"status": "failed", "consumerKey": "funnel"}))
    check("post", bulk, await api.post(bulk, json={"status": "delivered"}))


async def _provider_events(api: Api, check: Checked) -> None:
    events = "/internal/payments/provider-events"
    listed = check("get", events, await api.get(events))
    assert listed.body["data"]
    check("get", events, await api.get(events, query={"status": "nonsense"}))
    event_id = listed.body["data"][0]["id"]
    one = f"{events}/{{id}}"
    check("get", one, await api.get(f"{events}/{event_id}"))
    check("get", one, await api.get(f"{events}/missing"))
    replay = f"{events}/{{id}}/replay"
    check("post", replay, await api.post(f"{events}/{event_id}/replay"))
    check("post", replay, await api.post(f"{events}/missing/replay"))


async def _webhooks_and_inbox(api: Api, check: Checked) -> None:
    hooks = "/webhooks/{provider_key}"
    check("post", hooks, await api.post("/webhooks/sandbox", data=b"{}", token=None))
    check("post", hooks, await api.post("/webhooks/nowhere", data=b"{}", token=None))
    event = {"id": "evt_docs", "type": "checkout.completed"}
    inbox = "/sandbox/inbox"
    check("post", inbox, await api.post(inbox, json=event, headers={"webhook-id": "evt_docs"}))
    check("post", inbox, await api.post(inbox, json=event, token=None))
    check("get", inbox, await api.get(inbox))
    check("get", inbox, await api.get(inbox, query={"limit": "0"}))


def _checkout_body() -> dict[str, Any]:
    return {
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_docs",
        "tenantName": "Demo",
        "billingEmail": "billing@example.test",
        "successUrl": "http://funnel.test/ok",
        "cancelUrl": "http://funnel.test/cancel",
    }
