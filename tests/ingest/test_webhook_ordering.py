"""Property: any order of a subscription's events, with duplicates, ends in the newest state
and never emits a normalized event twice for one provider event."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import serializers
from core.ingest.intake import ingest_webhook
from core.models import NormalizedEvent, Subscription
from tests.support import stripe_events as se
from tests.support.webhooks import SECRET

T0 = 1_790_000_000
DAY = 86400
STATUSES = ["incomplete", "trialing", "active", "past_due", "unpaid", "canceled"]
_subscriptions = itertools.count()

states = st.lists(
    st.tuples(st.sampled_from(STATUSES), st.booleans(), st.integers(min_value=0, max_value=5)),
    min_size=2,
    max_size=6,
)


def build_events(subscription_id: str, drawn: list[tuple[str, bool, int]]) -> list[dict[str, Any]]:
    events = []
    for position, (status, cancel_at_end, period) in enumerate(drawn):
        obj = se.subscription(
            subscription_id,
            status=status,
            customer="cus_prop",
            period_start=T0 + period * 30 * DAY,
            period_end=T0 + (period + 1) * 30 * DAY,
            metadata=se.tenant_metadata("tenant_prop", "starter_month"),
            cancel_at_period_end=cancel_at_end,
            ended_at=T0 + position if status == "canceled" else None,
        )
        kind = "created" if position == 0 else ("deleted" if status == "canceled" else "updated")
        events.append(se.event(f"customer.subscription.{kind}", obj, created=T0 + position * 10))
    return events


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=states, data=st.data())
async def test_any_order_with_duplicates_ends_in_the_newest_state(
    make_app: Any, drawn: list[tuple[str, bool, int]], data: st.DataObject
) -> None:
    app = await make_app(STRIPE_WEBHOOK_SECRET=SECRET)
    registry = app.extensions["payments"].registry
    subscription_id = f"sub_prop_{next(_subscriptions)}"
    events = build_events(subscription_id, drawn)
    order = data.draw(st.permutations(events))
    extra = data.draw(st.lists(st.sampled_from(events), max_size=4))
    delivery = order + extra
    positions = data.draw(st.permutations(list(range(len(delivery)))))
    for index in positions:
        body = se.encode(delivery[index])
        await ingest_webhook(registry, "stripe", body, {"Stripe-Signature": se.sign(body, SECRET)})

    newest_status, newest_cancel, newest_period = drawn[-1]
    record = await Subscription.get(provider_subscription_id=subscription_id)
    assert record.status == newest_status
    assert record.cancel_at_period_end == newest_cancel
    assert record.current_period_end is not None
    assert int(record.current_period_end.timestamp()) == T0 + (newest_period + 1) * 30 * DAY

    emitted = await NormalizedEvent.all().order_by("created_at")
    mine = [
        e for e in emitted if e.data["subscription"]["providerSubscriptionId"] == subscription_id
    ]
    provider_ids = [e.provider_event_id for e in mine]
    assert len(provider_ids) == len(set(provider_ids)), "a provider event emitted twice"
    assert sum(e.type == "subscription.created" for e in mine) <= 1
    # The last event a consumer got describes the state the record ended in.
    last = mine[-1].data["subscription"]
    assert (last["status"], last["cancelAtPeriodEnd"]) == (
        record.status,
        record.cancel_at_period_end,
    )
    assert last["currentPeriodEnd"] == serializers.subscription(record)["currentPeriodEnd"]
