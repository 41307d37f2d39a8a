"""Reconcile on the sandbox: its objects changed behind the service's back are re-read."""

from __future__ import annotations

from core.models import Purchase, SandboxObject, Subscription
from tests.plugins.test_sandbox_flow import (
    Served,
    click,
    open_checkout,
    paid_subscription,
    serve_app,  # noqa: F401  (a fixture, used by name)
    served,  # noqa: F401  (a fixture, used by name)
)
from tests.support.webhooks import event_types


async def test_a_tenants_reconcile_repairs_and_reports_the_sandbox(served: Served) -> None:  # noqa: F811
    provider_id = await paid_subscription(served, tenant="tenant_sbx")
    row = await SandboxObject.get(id=provider_id)
    row.data = {**row.data, "cancel_at_period_end": True}
    await row.save()
    session = await open_checkout(served.api, item="lifetime_addon", tenant="tenant_sbx")
    assert (await click(served.api, session, "pay")).status == 303
    purchase = await Purchase.get(consumer_tenant_id="tenant_sbx")
    await SandboxObject.filter(id=purchase.provider_payment_id).delete()

    reply = await served.api.post("/internal/payments/tenants/tenant_sbx/reconcile")
    assert reply.status == 200, reply.body
    assert (reply.body["checked"], reply.body["changed"], reply.body["errors"]) == (2, 1, [])
    assert reply.body["missingAtProvider"] == [f"purchase {purchase.provider_payment_id} (sandbox)"]
    assert reply.body["planStatus"]["subscription"]["cancelAtPeriodEnd"] is True
    record = await Subscription.get(provider_subscription_id=provider_id)
    assert record.cancel_at_period_end is True
    assert (await event_types("tenant_sbx")).count("subscription.updated") == 1
    assert (await Purchase.get(id=purchase.id)).status == "paid"
