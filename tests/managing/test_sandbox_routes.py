"""Managing what was bought, end to end on the sandbox: the routes, the sandbox's actions and
the webhooks it sends this service about them, over a real Hypercorn server.

The sandbox sends its webhook about each action before it answers, so the answer is applied
after the webhook here: the other order of the race `docs/managing.md` describes. Either way
each change is one normalized event.
"""

from __future__ import annotations

from typing import Any

from core.models import Purchase, SandboxObject, Subscription
from tests.plugins.test_sandbox_flow import (
    ITEMS,
    Served,
    click,
    open_checkout,
    paid_subscription,
    plan,
    serve_app,  # noqa: F401  (a fixture, used by name)
    served,  # noqa: F401  (a fixture, used by name)
)
from tests.support.webhooks import event_types

SUBS = "/internal/payments/subscriptions"
CONTROLS = "/internal/payments/sandbox"


async def _add_pro(app: Served) -> None:
    pro = {
        "code": "pro_month",
        "name": "Pro",
        "kind": "recurring",
        "unitAmount": 4900,
        "currency": "eur",
        "interval": "month",
        "features": {"funnels": 50},
    }
    assert (await app.api.post(ITEMS, json=pro)).status == 201


async def _our_subscription(provider_id: str) -> str:
    return str((await Subscription.get(provider_subscription_id=provider_id)).id)


async def test_cancel_resume_and_change_through_the_routes(served: Served) -> None:  # noqa: F811
    await _add_pro(served)
    provider_id = await paid_subscription(served)
    sub = await _our_subscription(provider_id)
    api = served.api

    canceling = await api.post(f"{SUBS}/{sub}/cancel")
    assert (canceling.status, canceling.body["cancelAtPeriodEnd"]) == (200, True), canceling.body
    assert (await plan(api))["entitled"] is True
    resumed = await api.post(f"{SUBS}/{sub}/resume", json={"consumerKey": "funnel"})
    assert (resumed.status, resumed.body["cancelAtPeriodEnd"]) == (200, False)

    preview = await api.post(
        f"{SUBS}/{sub}/change", json={"pricingItemCode": "pro_month", "preview": True}
    )
    assert preview.status == 200, preview.body
    assert preview.body["currency"] == "eur" and preview.body["lines"]
    changed = await api.post(
        f"{SUBS}/{sub}/change", json={"pricingItemCode": "pro_month", "proration": "always_invoice"}
    )
    assert (changed.status, changed.body["pricingItemCode"]) == (200, "pro_month"), changed.body
    status = await plan(api)
    assert (status["plan"]["code"], status["features"]) == ("pro_month", {"funnels": 50})

    ended = await api.post(f"{SUBS}/{sub}/cancel", json={"atPeriodEnd": False})
    assert (ended.status, ended.body["status"]) == (200, "canceled")
    assert (await plan(api))["entitled"] is False
    types = await event_types()
    assert types[:3] == ["subscription.created", "invoice.paid", "checkout.completed"]
    assert types[3:].count("subscription.updated") == 3  # cancel, resume, change: one each
    assert types[-1] == "subscription.canceled"
    assert await SandboxObject.filter(kind="event_pending").count() == 0
    invoices = (await api.get("/internal/payments/invoices", query={"subscriptionId": sub})).body
    assert {i["status"] for i in invoices["data"]} == {"paid"}
    assert len(invoices["data"]) == 2  # the first period's, and the change's prorated one


async def test_refund_and_a_lost_dispute_through_the_routes(served: Served) -> None:  # noqa: F811
    api = served.api
    session = await open_checkout(api, item="lifetime_addon", tenant="tenant_buy")
    assert (await click(api, session, "pay")).status == 303
    purchase = await Purchase.get(consumer_tenant_id="tenant_buy")
    path = f"/internal/payments/purchases/{purchase.id}/refunds"

    part = await api.post(path, json={"amount": 900})
    assert (part.status, part.body["status"], part.body["amountRefunded"]) == (
        201,
        "partially_refunded",
        900,
    ), part.body
    over = await api.post(path, json={"amount": 5000})
    assert (over.status, over.body["code"]) == (422, "refund_exceeds_remaining")

    control = f"{CONTROLS}/payment-intents/{purchase.provider_payment_id}/dispute"
    assert (await api.post(control, json={"status": "needs_response"})).status == 200
    assert (await api.post(control, json={"status": "lost"})).status == 200
    disputes = (
        await api.get("/internal/payments/disputes", query={"consumerTenantId": "tenant_buy"})
    ).body
    assert [(d["status"], d["purchaseId"]) for d in disputes["data"]] == [
        ("lost", str(purchase.id))
    ]
    assert (await plan(api, "tenant_buy"))["purchases"] == []
    assert await event_types("tenant_buy") == [
        "checkout.completed",
        "purchase.paid",
        "purchase.refunded",
        "dispute.opened",
        "dispute.closed",
    ]


async def test_a_portal_session_opens_the_sandboxs_page(served: Served) -> None:  # noqa: F811
    await paid_subscription(served, tenant="tenant_portal")
    body: dict[str, Any] = {
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_portal",
        "returnUrl": "http://funnel.test/billing",
    }
    opened = await served.api.post("/internal/payments/portal-sessions", json=body)
    assert opened.status == 201, opened.body
    assert opened.body["url"].startswith(f"{served.base}/sandbox/portal/")
    assert (opened.body["providerKey"], opened.body["expiresAt"] is not None) == ("sandbox", True)
    page = await served.api.get(opened.body["url"].removeprefix(served.base), token=None)
    assert page.status == 200
