"""The operator's bulk retry: every matching delivery not in flight, due now, and how many."""

from __future__ import annotations

from datetime import timedelta

from core.delivery.claims import ConsumerScope, claim_due, requeue_matching
from core.models import EventDelivery
from core.timeutil import isoformat, utcnow
from tests.delivery.test_delivery_routes import fail_for_good
from tests.support.api import Api
from tests.support.deliveries import new_event

RETRY = "/internal/payments/event-deliveries/retry"


async def _failed(consumer: str, event_type: str = "subscription.updated") -> EventDelivery:
    return await fail_for_good(await new_event(consumer, event_type))


async def test_failed_deliveries_are_requeued_with_filters_and_a_count(api: Api) -> None:
    funnel_updated = [await _failed("funnel") for _ in range(3)]
    funnel_created = await _failed("funnel", "subscription.created")
    crm = await _failed("crm")
    pending = await new_event("funnel")

    narrow = await api.post(
        RETRY,
        json={"status": "failed", "consumerKey": "funnel", "eventType": "subscription.updated"},
    )
    assert (narrow.status, narrow.body) == (202, {"count": 3})
    for delivery in funnel_updated:
        moved = await EventDelivery.get(id=delivery.id)
        assert (moved.status, moved.attempt_count, moved.failed_at) == ("pending", 0, None)
        assert moved.next_attempt_at is not None
    assert (await EventDelivery.get(id=funnel_created.id)).status == "failed"
    assert (await EventDelivery.get(id=crm.id)).status == "failed"

    by_consumer = await api.post(RETRY, json={"status": "failed", "consumerKey": "crm"})
    assert by_consumer.body == {"count": 1}
    rest = await api.post(RETRY, json={"status": "failed"})
    assert rest.body == {"count": 1}
    assert (await EventDelivery.get(id=funnel_created.id)).status == "pending"
    again = await api.post(RETRY, json={"status": "failed"})
    assert again.body == {"count": 0}
    assert (await EventDelivery.get(event_id=pending.id)).status == "pending"


async def test_since_takes_deliveries_created_at_or_after(api: Api) -> None:
    old = await _failed("funnel")
    await EventDelivery.filter(id=old.id).update(created_at=utcnow() - timedelta(days=2))
    recent = await _failed("funnel")
    since = isoformat(utcnow() - timedelta(days=1))
    reply = await api.post(RETRY, json={"status": "failed", "since": since})
    assert reply.body == {"count": 1}
    assert (await EventDelivery.get(id=recent.id)).status == "pending"
    assert (await EventDelivery.get(id=old.id)).status == "failed"


async def test_pending_ones_waiting_for_a_later_attempt_are_due_now(api: Api) -> None:
    failed = await _failed("funnel")
    later = await new_event("funnel")
    due = await new_event("funnel")
    tomorrow = utcnow() + timedelta(days=1)
    await EventDelivery.filter(event_id=later.id).update(next_attempt_at=tomorrow, attempt_count=4)
    reply = await api.post(RETRY, json={"status": "pending"})
    assert reply.body == {"count": 1}
    moved = await EventDelivery.get(event_id=later.id)
    assert moved.status == "pending"
    assert moved.attempt_count == 4  # keeps its place in the schedule
    assert moved.next_attempt_at is not None and moved.next_attempt_at < tomorrow
    assert (await EventDelivery.get(event_id=due.id)).attempt_count == 0
    assert (await EventDelivery.get(id=failed.id)).status == "failed"


async def test_in_flight_deliveries_are_never_taken(api: Api) -> None:
    await new_event("funnel")
    [claimed] = await claim_due([ConsumerScope("funnel")], "busy-worker", 60, 10)
    for status in ("failed", "pending"):
        assert (await api.post(RETRY, json={"status": status})).body == {"count": 0}
    held = await EventDelivery.get(id=claimed.id)
    assert (held.status, held.lease_owner) == ("in_flight", "busy-worker")


async def test_many_in_batches(api: Api) -> None:
    for _ in range(7):
        await _failed("funnel")
    assert await requeue_matching("failed", batch=3) == 7
    assert await EventDelivery.filter(status="pending").count() == 7


async def test_bad_bodies_are_400(api: Api) -> None:
    for body in (
        {},
        {"status": "delivered"},
        {"status": "in_flight"},
        {"status": "failed", "since": "last week"},
        {"status": "failed", "consumerKey": 5},
    ):
        reply = await api.post(RETRY, json=body)
        assert reply.status == 400, body
        assert reply.body["code"] == "validation_failed", body
    assert (await api.post(RETRY, json={"status": "failed"}, token=None)).status == 401


async def test_the_route_and_the_one_delivery_routes_do_not_overlap(api: Api) -> None:
    """`POST .../retry` is the bulk retry; `GET .../retry` is still one delivery named `retry`."""
    one = await api.get(RETRY)
    assert (one.status, one.body["code"]) == (404, "event_delivery_not_found")
    assert (await api.post(RETRY, json={"status": "failed"})).status == 202
