"""Plan status: its rules (the contract's, with the choices `core.billing.plan_status` writes
down), and its answer, which the hot path builds as JSON by hand, held to the documented
response schema (`web.schemas.billing.PlanStatusOut`, what `/openapi.json` publishes) for
every kind of tenant: no field missing, none extra, every value of its documented type.

The past_due grace rule has its own module (`test_past_due_grace.py`), the cache too
(`test_plan_cache.py`); the fast path below Quart is `tests/web/test_plan_status_fast_path.py`.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, get_args

from core.billing.plan_status import plan_status
from core.models import PricingItem
from core.timeutil import utcnow
from tests.support.api import Api
from tests.support.billing import purchase, subscription
from web.schemas.billing import PlanStatusOut, SubscriptionStatus

STATUSES: tuple[str, ...] = get_args(SubscriptionStatus)


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


async def _items() -> None:
    await PricingItem.create(
        code="starter",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
        features={"funnels": 5, "exports": False, "theme": "basic", "limits": {"a": 1}},
    )
    await PricingItem.create(
        code="lifetime",
        name="Lifetime",
        kind="one_time",
        unit_amount=4900,
        currency="eur",
        features={"funnels": 9, "exports": True},
    )


def _held_to_the_schema(answer: dict[str, Any]) -> None:
    """The answer validates as the documented schema and says nothing more or less."""
    parsed = PlanStatusOut.model_validate(answer)
    assert parsed.model_dump(by_alias=True, mode="json") == answer


async def test_every_kind_of_tenant_is_answered_in_the_documented_schema(database: str) -> None:
    await _items()
    now = utcnow()
    kinds = itertools.product(
        (None, *STATUSES),  # no subscription, or one in each status
        (False, True),  # its item known, or a code the catalog does not have
        (0, 2),  # paid one-time purchases
        (None, "funnel"),  # read for every product, or narrowed to one
    )
    for n, (status, known, paid, narrowed) in enumerate(kinds):
        tenant = f"tenant_{n}"
        if status is not None:
            await subscription(
                n,
                consumer_tenant_id=tenant,
                status=status,
                pricing_item_code="starter" if known else "retired_plan",
                past_due_since=now - timedelta(days=1) if status == "past_due" else None,
                trial_end=now + timedelta(days=3) if status == "trialing" else None,
                current_period_end=None if status == "incomplete" else now + timedelta(days=9),
            )
        for m in range(paid):
            await purchase(1000 * n + m, consumer_tenant_id=tenant, paid_at=now if m else None)
        answer = await plan_status(tenant, narrowed, grace_days=3)
        _held_to_the_schema(answer)
        assert answer["status"] == (status or "none")


async def test_a_tenant_nobody_knows_is_answered_in_the_documented_schema(database: str) -> None:
    answer = await plan_status("nobody", None, grace_days=0)
    _held_to_the_schema(answer)
    assert (answer["status"], answer["entitled"], answer["plan"]) == ("none", False, None)
