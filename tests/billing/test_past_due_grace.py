"""Grace for a past_due subscription counts from the moment it became past_due (the provider's
time of that change), not from its period: 0 days is not entitled from that moment, N days
is entitled until exactly N days after it. Times are explicit; nothing sleeps."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.billing.plan_status import evaluate
from core.models import PricingItem, Subscription
from core.timeutil import from_unix
from tests.conftest import TOKEN
from tests.plugins.test_funnel_import import run, sources  # noqa: F401 - the fixture
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.legacy_billing import LegacySources, generate
from tests.support.webhooks import SECRET, post_event

T0 = 1_790_000_000
DAY = 86400
MONTH = 30 * DAY
SECOND = timedelta(seconds=1)
PLAN_STATUS = "/internal/payments/tenants/{}/plan-status"


async def grace_app(make_app: Any, days: int) -> Api:
    api = Api(
        await make_app(STRIPE_WEBHOOK_SECRET=SECRET, PAYMENTS_PAST_DUE_GRACE_DAYS=str(days)), TOKEN
    )
    await PricingItem.create(
        code="starter_month",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
        features={"funnels": 5},
    )
    return api


def sub_event(
    kind: str, sub: str, tenant: str, status: str, *, created: int, period_start: int
) -> dict[str, Any]:
    obj = se.subscription(
        sub,
        status=status,
        customer=f"cus_{tenant}",
        period_start=period_start,
        period_end=period_start + MONTH,
        metadata=se.tenant_metadata(tenant, "starter_month"),
    )
    return se.event(f"customer.subscription.{kind}", obj, created=created)


def at(unix: int) -> datetime:
    moment = from_unix(unix)
    assert moment is not None
    return moment


async def test_no_grace_is_not_entitled_even_when_the_new_period_lies_ahead(
    make_app: Any,
) -> None:
    """The finding: the renewal's period starts ahead of the failed payment, and grace
    counted from it answered `entitled: true` with 0 grace days (the fast path and Quart)."""
    api = await grace_app(make_app, 0)
    now = int(time.time())
    await post_event(
        api,
        sub_event(
            "created", "sub_ahead", "t_ahead", "active", created=now - MONTH, period_start=now
        ),
    )
    ahead = now + DAY
    await post_event(
        api,
        sub_event(
            "updated", "sub_ahead", "t_ahead", "past_due", created=now - 60, period_start=ahead
        ),
    )

    for query in (None, {"consumerKey": "funnel"}, {"consumerKey": "funnel", "x": "1"}):
        body = (await api.get(PLAN_STATUS.format("t_ahead"), query=query)).body
        assert (body["status"], body["entitled"]) == ("past_due", False), query
        assert body["features"] == {}


@pytest.mark.parametrize("days", [0, 1, 3])
async def test_grace_ends_exactly_n_days_after_the_subscription_became_past_due(
    make_app: Any, days: int
) -> None:
    api = await grace_app(make_app, days)
    became = T0 + 5 * DAY
    await post_event(
        api, sub_event("created", "sub_g", "t_g", "active", created=T0, period_start=T0)
    )
    # The new period started four days before the payment failed for good.
    await post_event(
        api, sub_event("updated", "sub_g", "t_g", "past_due", created=became, period_start=T0 + DAY)
    )
    record = await Subscription.get(provider_subscription_id="sub_g")
    assert record.past_due_since == at(became)

    end = at(became) + timedelta(days=days)
    before, valid_for = await evaluate("t_g", "funnel", days, now=end - SECOND)
    after, _ = await evaluate("t_g", "funnel", days, now=end + SECOND)
    exactly, _ = await evaluate("t_g", "funnel", days, now=end)
    at_the_moment, _ = await evaluate("t_g", "funnel", days, now=at(became))

    if days == 0:
        assert before["entitled"] is False  # a second before the change: not past_due for us
        assert at_the_moment["entitled"] is False
    else:
        assert before["entitled"] is True
        assert before["features"] == {"funnels": 5}
        assert valid_for == 1.0, "a cached answer must not outlive the grace"
        assert at_the_moment["entitled"] is True
    assert exactly["entitled"] is False
    assert after["entitled"] is False
    assert after["features"] == {}


async def test_the_moment_is_kept_while_past_due_and_cleared_when_it_leaves(
    make_app: Any,
) -> None:
    api = await grace_app(make_app, 3)
    became = T0 + 10
    await post_event(
        api, sub_event("created", "sub_m", "t_m", "active", created=T0, period_start=T0)
    )
    await post_event(
        api, sub_event("updated", "sub_m", "t_m", "past_due", created=became, period_start=T0)
    )
    # Still past_due a day later (say, a retry failed): grace still counts from the first.
    await post_event(
        api, sub_event("updated", "sub_m", "t_m", "past_due", created=became + DAY, period_start=T0)
    )
    # A stale past_due event from before changes nothing.
    await post_event(
        api, sub_event("updated", "sub_m", "t_m", "past_due", created=became - 5, period_start=T0)
    )
    record = await Subscription.get(provider_subscription_id="sub_m")
    assert record.past_due_since == at(became)

    await post_event(
        api,
        sub_event("updated", "sub_m", "t_m", "active", created=became + 2 * DAY, period_start=T0),
    )
    assert (await Subscription.get(provider_subscription_id="sub_m")).past_due_since is None
    again = became + 40 * DAY
    await post_event(
        api,
        sub_event("updated", "sub_m", "t_m", "past_due", created=again, period_start=T0 + MONTH),
    )
    assert (await Subscription.get(provider_subscription_id="sub_m")).past_due_since == at(again)


async def test_created_already_past_due_counts_from_the_facts_time(make_app: Any) -> None:
    api = await grace_app(make_app, 2)
    await post_event(
        api, sub_event("updated", "sub_c", "t_c", "past_due", created=T0 + 99, period_start=T0)
    )
    record = await Subscription.get(provider_subscription_id="sub_c")
    assert record.past_due_since == at(T0 + 99)
    inside, _ = await evaluate("t_c", None, 2, now=at(T0 + 99 + 2 * DAY) - SECOND)
    assert inside["entitled"] is True


async def test_imported_past_due_counts_from_the_rows_time(
    sources: LegacySources,  # noqa: F811 - the fixture
) -> None:
    legacy = generate(40)
    url = await sources.make(legacy)
    await run(url)
    rows = [s for s in legacy.subscriptions if s["status"] == "past_due"]
    assert rows, "the generated data has past_due subscriptions"
    for row in rows:
        record = await Subscription.get(provider_subscription_id=row["stripe_subscription_id"])
        moments = [
            datetime.fromisoformat(str(row[name]).replace("Z", "+00:00"))
            for name in ("created_at", "current_period_start", "canceled_at")
            if row.get(name)
        ]
        assert record.past_due_since == max(moments)
