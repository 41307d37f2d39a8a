"""The read side's lists: purchases and subscriptions, their filters and cursors."""

from __future__ import annotations

from typing import Any

import pytest

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
