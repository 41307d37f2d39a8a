"""The read side: purchase and subscription lists (filters, cursors) and plan-status rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.models import PricingItem
from core.timeutil import utcnow
from tests.support.api import Api
from tests.support.billing import purchase, subscription


@pytest.mark.parametrize("resource", ["purchases", "subscriptions"])
async def test_lists_filter_and_paginate(api: Api, resource: str) -> None:
    make = purchase if resource == "purchases" else subscription
    other_status = "failed" if resource == "purchases" else "canceled"
    await make(1)
    await make(2, consumer_tenant_id="t2")
    await make(3, consumer_key="crm")
    await make(4, status=other_status)
    await make(5, pricing_item_code="other")
    path = f"/internal/payments/{resource}"

    async def ids(**query: Any) -> list[str]:
        reply = await api.get(path, query=query)
        assert reply.status == 200, reply.body
        key = "providerPaymentId" if resource == "purchases" else "providerSubscriptionId"
        return [row[key].split("_")[1] for row in reply.body["data"]]

    assert await ids() == ["5", "4", "3", "2", "1"]
    assert await ids(consumerTenantId="t2") == ["2"]
    assert await ids(consumerKey="crm") == ["3"]
    assert await ids(status=other_status) == ["4"]
    assert await ids(pricingItemCode="other") == ["5"]
    assert await ids(consumerKey="funnel", consumerTenantId="t1") == ["5", "4", "1"]

    first = await api.get(path, query={"limit": 2})
    assert len(first.body["data"]) == 2
    seen = [row["id"] for row in first.body["data"]]
    await make(6)  # added while paging: it is newer, so it is not in the pages still to come
    cursor = first.body["nextCursor"]
    while cursor:
        page = await api.get(path, query={"limit": 2, "cursor": cursor})
        seen += [row["id"] for row in page.body["data"]]
        cursor = page.body["nextCursor"]
    assert len(seen) == len(set(seen)) == 5

    bad = await api.get(path, query={"status": "sideways"})
    assert bad.status == 400
    assert bad.body["details"][0]["field"] == "status"
    assert (await api.get(path, token=None)).status == 401


async def test_plan_status_merges_plan_and_paid_items(api: Api) -> None:
    await PricingItem.create(
        code="starter",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
        features={"funnels": 5, "exports": False, "theme": "basic"},
    )
    await PricingItem.create(
        code="lifetime",
        name="Lifetime",
        kind="one_time",
        unit_amount=4900,
        currency="eur",
        features={"funnels": 3, "exports": True, "theme": "pro"},
    )
    await subscription(1, status="canceled", current_period_end=utcnow() - timedelta(days=40))
    await subscription(2, status="trialing", trial_end=utcnow() + timedelta(days=7))
    await purchase(1)
    await purchase(2, status="refunded")
    await purchase(3, consumer_key="crm", pricing_item_code="starter")
    body = (
        await api.get("/internal/payments/tenants/t1/plan-status", query={"consumerKey": "funnel"})
    ).body
    assert body["status"] == "trialing"
    assert body["entitled"] is True
    assert body["subscription"]["trialEnd"] is not None
    assert body["features"] == {"funnels": 5, "exports": True, "theme": "pro"}
    assert [p["pricingItemCode"] for p in body["purchases"]] == ["lifetime"]
    assert body["evaluatedAt"].endswith("Z")


async def test_plan_status_of_canceled_tenant_keeps_paid_items_only(api: Api) -> None:
    await PricingItem.create(
        code="starter",
        name="S",
        kind="recurring",
        unit_amount=1,
        currency="eur",
        interval="month",
        features={"a": 1},
    )
    await subscription(1, status="canceled", ended_at=utcnow())
    body = (await api.get("/internal/payments/tenants/t1/plan-status")).body
    assert (body["status"], body["entitled"], body["features"]) == ("canceled", False, {})
    assert body["plan"]["code"] == "starter"


async def test_plan_status_checks_its_consumer_key(api: Api) -> None:
    reply = await api.get(
        "/internal/payments/tenants/t1/plan-status", query={"consumerKey": "k" * 65}
    )
    assert reply.status == 400
    assert reply.body["code"] == "validation_failed"
    assert reply.body["details"][0]["field"] == "consumerKey"
    assert (await api.get("/internal/payments/tenants/t1/plan-status", token=None)).status == 401
