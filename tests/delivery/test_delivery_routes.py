"""The operator routes: list deliveries (filters, cursor), one with its attempts, retry now."""

from __future__ import annotations

import uuid

from core.delivery.claims import AttemptRecord, ConsumerScope, claim_due, finish_attempt
from core.delivery.outbox import event_body
from core.models import EventDelivery, NormalizedEvent
from core.timeutil import utcnow
from tests.support.api import Api
from tests.support.deliveries import new_event

BASE = "/internal/payments/event-deliveries"


async def fail_for_good(event: NormalizedEvent, status_code: int = 410) -> EventDelivery:
    """Play one attempt through the lease, as a dispatcher would, ending `failed`."""
    [claimed] = await claim_due([ConsumerScope(event.consumer_key)], "w1", 30, 1)
    assert claimed.event_id == event.id
    attempt = AttemptRecord(utcnow(), 12, status_code, f"HTTP {status_code}", "gone")
    assert await finish_attempt(
        claimed, "w1", attempt=attempt, status="failed", next_attempt_at=None
    )
    return await EventDelivery.get(event_id=event.id)


async def test_list_is_newest_first_with_filters_and_a_cursor(api: Api) -> None:
    first = await new_event("funnel", "subscription.created")
    await fail_for_good(first)
    second = await new_event("funnel", "subscription.updated")
    third = await new_event("crm", "subscription.updated")

    everything = await api.get(BASE)
    assert everything.status == 200
    ids = [d["eventId"] for d in everything.body["data"]]
    assert ids == [str(third.id), str(second.id), str(first.id)]
    assert everything.body["nextCursor"] is None

    page1 = await api.get(BASE, query={"limit": 2})
    assert [d["eventId"] for d in page1.body["data"]] == ids[:2]
    page2 = await api.get(BASE, query={"limit": 2, "cursor": page1.body["nextCursor"]})
    assert [d["eventId"] for d in page2.body["data"]] == ids[2:]
    assert page2.body["nextCursor"] is None

    by_consumer = await api.get(BASE, query={"consumerKey": "crm"})
    assert [d["eventId"] for d in by_consumer.body["data"]] == [str(third.id)]
    by_type = await api.get(BASE, query={"eventType": "subscription.updated"})
    assert {d["eventId"] for d in by_type.body["data"]} == {str(second.id), str(third.id)}
    failed = await api.get(BASE, query={"status": "failed"})
    assert [d["eventId"] for d in failed.body["data"]] == [str(first.id)]
    pending_funnel = await api.get(BASE, query={"status": "pending", "consumerKey": "funnel"})
    assert [d["eventId"] for d in pending_funnel.body["data"]] == [str(second.id)]


async def test_list_item_shape(api: Api) -> None:
    event = await new_event()
    [item] = (await api.get(BASE)).body["data"]
    assert set(item) == {
        "id",
        "eventId",
        "consumerKey",
        "eventType",
        "status",
        "attemptCount",
        "nextAttemptAt",
        "leaseExpiresAt",
        "lastStatusCode",
        "lastError",
        "deliveredAt",
        "failedAt",
        "createdAt",
        "updatedAt",
    }
    assert item["eventId"] == str(event.id)
    assert item["status"] == "pending"
    assert item["nextAttemptAt"].endswith("Z")


async def test_list_rejects_bad_filters_and_cursors(api: Api) -> None:
    bad_status = await api.get(BASE, query={"status": "lost"})
    assert bad_status.status == 400
    assert bad_status.body["code"] == "validation_failed"
    bad_cursor = await api.get(BASE, query={"cursor": "nope"})
    assert bad_cursor.status == 400
    assert bad_cursor.body["code"] == "validation_failed"
    bad_limit = await api.get(BASE, query={"limit": 0})
    assert bad_limit.status == 400


async def test_get_one_with_its_event_and_attempts(api: Api) -> None:
    event = await new_event()
    delivery = await fail_for_good(event)
    reply = await api.get(f"{BASE}/{delivery.id}")
    assert reply.status == 200
    assert reply.body["id"] == str(delivery.id)
    assert reply.body["status"] == "failed"
    assert reply.body["event"] == event_body(event)
    [attempt] = reply.body["attempts"]
    assert attempt["number"] == 1
    assert attempt["statusCode"] == 410
    assert attempt["durationMs"] == 12
    assert attempt["error"] == "HTTP 410"
    assert attempt["responseBody"] == "gone"
    assert attempt["startedAt"].endswith("Z")


async def test_unknown_delivery_is_404_on_every_route(api: Api) -> None:
    for ref in (str(uuid.uuid4()), "not-a-uuid"):
        for reply in (await api.get(f"{BASE}/{ref}"), await api.post(f"{BASE}/{ref}/retry")):
            assert reply.status == 404
            assert reply.body["code"] == "event_delivery_not_found"
            assert reply.body["statusCode"] == 404


async def test_retry_requeues_a_failed_delivery_with_a_fresh_schedule(api: Api) -> None:
    event = await new_event()
    delivery = await fail_for_good(event)
    before = utcnow()
    reply = await api.post(f"{BASE}/{delivery.id}/retry")
    assert reply.status == 202
    assert reply.body["status"] == "pending"
    assert reply.body["attemptCount"] == 0
    assert reply.body["failedAt"] is None
    stored = await EventDelivery.get(id=delivery.id)
    assert stored.status == "pending"
    assert stored.next_attempt_at is not None
    assert stored.next_attempt_at >= before.replace(microsecond=0)
    detail = await api.get(f"{BASE}/{delivery.id}")
    assert len(detail.body["attempts"]) == 1  # history is kept


async def test_retry_of_a_pending_delivery_keeps_its_place_in_the_schedule(api: Api) -> None:
    event = await new_event()
    delivery = await EventDelivery.get(event_id=event.id)
    await EventDelivery.filter(id=delivery.id).update(attempt_count=2)
    reply = await api.post(f"{BASE}/{delivery.id}/retry")
    assert reply.status == 202
    assert reply.body["attemptCount"] == 2


async def test_retry_is_409_while_in_flight_and_202_once_the_lease_expired(api: Api) -> None:
    event = await new_event()
    [claimed] = await claim_due([ConsumerScope("funnel")], "busy-worker", 60, 10)
    reply = await api.post(f"{BASE}/{claimed.id}/retry")
    assert reply.status == 409
    assert reply.body["code"] == "delivery_in_flight"
    unchanged = await EventDelivery.get(id=claimed.id)
    assert unchanged.status == "in_flight"
    assert unchanged.lease_owner == "busy-worker"

    await EventDelivery.filter(id=claimed.id).update(lease_expires_at=utcnow())
    reply = await api.post(f"{BASE}/{claimed.id}/retry")
    assert reply.status == 202
    assert reply.body["status"] == "pending"
    assert reply.body["leaseExpiresAt"] is None
    assert event.id == claimed.event_id


async def test_routes_need_the_internal_token(api: Api) -> None:
    assert (await api.get(BASE, token=None)).status == 401
    assert (await api.post(f"{BASE}/{uuid.uuid4()}/retry", token=None)).status == 401
