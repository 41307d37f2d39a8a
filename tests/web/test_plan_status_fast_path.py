"""The plan-status fast path answers exactly as the Quart route does, and leaves it every error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from core.config import Settings
from core.models import PricingItem
from tests.conftest import TOKEN
from tests.support.api import Api
from tests.support.billing import purchase, subscription
from tests.support.fast_paths import comparable, quart_requests, twin_apis
from web.app import create_app

RULE = "/internal/payments/tenants/<consumerTenantId>/plan-status"


@pytest.fixture
async def twin_apps(
    database: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[Api, Api]]:
    """The same app twice, over the emptied test database: with the fast path (as served)
    and without it (Quart alone)."""
    apps = [
        create_app(make_settings(), connect_database=False, fast_plan_status=fast)
        for fast in (True, False)
    ]
    async with twin_apis(apps[0], apps[1], TOKEN) as apis:
        yield apis


async def _seed() -> None:
    await PricingItem.create(
        code="starter",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
        features={"funnels": 5},
    )
    await subscription(1)
    await purchase(1, pricing_item_code="starter")


def _served(route: str = RULE) -> float:
    value = REGISTRY.get_sample_value(
        "payments_http_requests_total", {"method": "GET", "route": route, "status": "200"}
    )
    return value or 0.0


CASES: list[tuple[str, dict[str, Any]]] = [
    ("/internal/payments/tenants/t1/plan-status", {}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"consumerKey": "funnel"}}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"consumerKey": "crm"}}),
    ("/internal/payments/tenants/nobody/plan-status", {}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"consumerKey": "k" * 65}}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"consumerKey": ""}}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"consumerKey": "fün nel"}}),
    ("/internal/payments/tenants/t1/plan-status", {"query": {"other": "x"}}),
    ("/internal/payments/tenants/t1/plan-status", {"token": None}),
    ("/internal/payments/tenants/t1/plan-status", {"token": "wrong"}),
    ("/internal/payments/tenants/t1/plan-status/", {}),
    ("/internal/payments/tenants/t1/plan-statuses", {}),
]


@pytest.mark.parametrize(("path", "options"), CASES)
async def test_fast_path_answers_as_the_route_does(
    twin_apps: tuple[Api, Api], path: str, options: dict[str, Any]
) -> None:
    await _seed()
    fast, quart_only = twin_apps
    assert comparable(await fast.get(path, **options), "evaluatedAt") == comparable(
        await quart_only.get(path, **options), "evaluatedAt"
    )


async def test_fast_path_skips_quart_only_for_well_formed_authorized_reads(
    twin_apps: tuple[Api, Api],
) -> None:
    await _seed()
    fast, _ = twin_apps
    through_quart = quart_requests(fast.app)
    before = _served()
    ok = await fast.get(
        "/internal/payments/tenants/t1/plan-status", query={"consumerKey": "funnel"}
    )
    assert ok.status == 200 and ok.body["status"] == "active"
    assert through_quart == []  # answered below Quart
    assert _served() == before + 1  # and counted under the route's rule, as Quart would
    denied = await fast.get("/internal/payments/tenants/t1/plan-status", token="wrong")
    assert denied.status == 401 and denied.body["code"] == "unauthorized"
    posted = await fast.post("/internal/payments/tenants/t1/plan-status")
    assert posted.status == 405
    assert len(through_quart) == 2  # errors are Quart's to answer
