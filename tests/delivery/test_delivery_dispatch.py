"""The dispatcher against a real aiohttp consumer: success, retries, timeout, 410, 429,
signatures, routing by consumer key, waiting deliveries, the breaker, leases, shutdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest

from core.config import Settings
from core.delivery.claims import AttemptRecord, ConsumerScope, claim_due, finish_attempt
from core.delivery.outbox import event_body, wake_local
from core.models import DeliveryAttempt, EventDelivery
from core.timeutil import utcnow
from tests.support.api import Api
from tests.support.consumer_server import ConsumerServer, Hang, Hold, Respond
from tests.support.deliveries import (
    FAST,
    SECRET,
    delivery_for,
    eventually,
    funnel_plugins,
    http_consumer,
    new_event,
    running_dispatcher,
    settled,
)


@pytest.fixture
def settings_for(database: str, make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(plugins: str, **env: str) -> Settings:
        return make_settings(plugins, **{**FAST, **env})

    return build


async def attempts_of(delivery: EventDelivery) -> list[DeliveryAttempt]:
    return list(await DeliveryAttempt.filter(delivery_id=delivery.id).order_by("number"))


async def test_delivers_signed_event_with_token_and_records_the_attempt(settings_for) -> None:
    async with ConsumerServer(secret=SECRET) as server:
        settings = settings_for(funnel_plugins(server.url, signing_secret=SECRET, token="t0k"))
        async with running_dispatcher(settings):
            event = await new_event()
            delivery = await settled(event, "delivered")

    assert delivery.attempt_count == 1
    assert delivery.last_status_code == 200
    assert delivery.delivered_at is not None
    assert delivery.lease_owner is None
    [attempt] = await attempts_of(delivery)
    assert (attempt.number, attempt.status_code) == (1, 200)
    assert attempt.error is None
    assert attempt.duration_ms >= 0
    assert attempt.response_body == '{"received":true}'
    [request] = server.requests
    assert request.signature_ok is True
    assert request.webhook_id == str(event.id)
    assert request.headers["x-platform-internal-token"] == "t0k"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == orjson.loads(orjson.dumps(event_body(event)))
    assert request.json()["consumerKey"] == "funnel"


async def test_failure_then_success_resends_the_same_signed_bytes(settings_for) -> None:
    async with ConsumerServer(secret=SECRET) as server:
        server.then(Respond(503), Respond(500, body="boom"))
        settings = settings_for(funnel_plugins(server.url, signing_secret=SECRET))
        async with running_dispatcher(settings):
            event = await new_event()
            delivery = await settled(event, "delivered")

    attempts = await attempts_of(delivery)
    assert [(a.number, a.status_code) for a in attempts] == [(1, 503), (2, 500), (3, 200)]
    assert attempts[1].error == "HTTP 500"
    assert attempts[1].response_body == "boom"
    assert delivery.attempt_count == 3
    assert len({r.body for r in server.requests}) == 1
    assert set(server.ids()) == {str(event.id)}
    assert all(r.signature_ok for r in server.requests)


async def test_attempts_show_in_the_metrics(settings_for, make_app) -> None:
    from prometheus_client import REGISTRY

    def attempts(result: str) -> float:
        labels = {"consumer": "funnel", "result": result}
        return REGISTRY.get_sample_value("payments_delivery_attempts_total", labels) or 0.0

    before = {result: attempts(result) for result in ("retry", "delivered")}
    async with ConsumerServer() as server:
        server.then(Respond(500))
        async with running_dispatcher(settings_for(funnel_plugins(server.url))):
            await settled(await new_event(), "delivered")
    assert attempts("retry") == before["retry"] + 1
    assert attempts("delivered") == before["delivered"] + 1
    api = Api(await make_app(), "test-internal-token")
    page = (await api.get("/metrics", token=None)).raw.decode()
    assert 'payments_delivery_attempts_total{consumer="funnel",result="delivered"}' in page
    assert "payments_delivery_attempt_seconds_bucket" in page


async def test_timeout_counts_as_a_failed_attempt(settings_for) -> None:
    async with ConsumerServer() as server:
        server.then(Hang(10))
        settings = settings_for(funnel_plugins(server.url), PAYMENTS_DELIVERY_TIMEOUT="0.3")
        async with running_dispatcher(settings):
            event = await new_event()
            delivery = await settled(event, "delivered")

    first, second = await attempts_of(delivery)
    assert first.status_code is None
    assert first.error is not None
    assert "timed out" in first.error
    assert second.status_code == 200


async def test_410_gone_fails_at_once(settings_for) -> None:
    async with ConsumerServer(default=Respond(410)) as server:
        settings = settings_for(funnel_plugins(server.url))
        async with running_dispatcher(settings):
            event = await new_event()
            delivery = await settled(event, "failed")

    assert delivery.attempt_count == 1
    assert delivery.next_attempt_at is None
    assert delivery.failed_at is not None
    assert delivery.last_status_code == 410
    assert len(await attempts_of(delivery)) == 1


async def test_429_retry_after_is_honoured_over_a_shorter_step(settings_for) -> None:
    async with ConsumerServer() as server:
        server.then(Respond(429, retry_after="1"))
        async with running_dispatcher(settings_for(funnel_plugins(server.url))):
            event = await new_event()
            delivery = await settled(event, "delivered")

    first, second = await attempts_of(delivery)
    assert first.status_code == 429
    assert second.started_at - first.started_at >= timedelta(seconds=1)


async def test_down_for_whole_schedule_then_retry_route_delivers(settings_for, make_app) -> None:
    async with ConsumerServer(default=Respond(503)) as server:
        plugins = funnel_plugins(server.url)
        api = Api(await make_app(plugins, **FAST), "test-internal-token")
        async with running_dispatcher(settings_for(plugins)):
            event = await new_event()
            failed = await settled(event, "failed")
            assert failed.attempt_count == 4  # the schedule's three waits: four attempts
            assert failed.last_error == "HTTP 503"

            server.default = Respond(200)
            reply = await api.post(f"/internal/payments/event-deliveries/{failed.id}/retry")
            assert reply.status == 202
            assert reply.body["status"] == "pending"
            assert reply.body["attemptCount"] == 0
            assert reply.body["failedAt"] is None
            delivered = await settled(event, "delivered")

    assert delivered.attempt_count == 1
    attempts = await attempts_of(delivered)
    assert [a.status_code for a in attempts] == [503, 503, 503, 503, 200]
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5]


async def test_consumer_with_the_wrong_secret_is_never_accepted(settings_for) -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    async with ConsumerServer(secret=SECRET) as server:
        settings = settings_for(funnel_plugins(server.url, signing_secret=other))
        async with running_dispatcher(settings):
            event = await new_event()
            delivery = await settled(event, "failed")

    assert delivery.last_status_code == 401
    assert server.requests
    assert all(r.signature_ok is False for r in server.requests)


async def test_events_go_only_to_the_consumer_their_key_names(settings_for) -> None:
    async with ConsumerServer() as funnel, ConsumerServer() as crm:
        plugins = funnel_plugins(funnel.url) + http_consumer("crm", crm.url)
        async with running_dispatcher(settings_for(plugins)):
            to_funnel = await new_event("funnel")
            to_crm = await new_event("crm", "purchase.paid")
            await settled(to_funnel, "delivered")
            await settled(to_crm, "delivered")

    assert funnel.ids() == [str(to_funnel.id)]
    assert crm.ids() == [str(to_crm.id)]
    assert crm.requests[0].json()["type"] == "purchase.paid"
    assert "webhook-signature" not in crm.requests[0].headers


async def test_unconfigured_or_unwanted_deliveries_stay_pending(settings_for) -> None:
    async with ConsumerServer() as server:
        plugins = (
            funnel_plugins(server.url)
            + http_consumer("no_url", None)
            + http_consumer("picky", server.url, event_types=["subscription.canceled"])
        )
        async with running_dispatcher(settings_for(plugins)):
            unknown = await new_event("nobody")
            no_url = await new_event("no_url")
            unwanted = await new_event("picky", "subscription.updated")
            wanted = await new_event("picky", "subscription.canceled")
            last = await new_event("funnel")
            await settled(wanted, "delivered")
            await settled(last, "delivered")

            for waiting in (unknown, no_url, unwanted):
                delivery = await delivery_for(waiting)
                assert delivery.status == "pending"
                assert delivery.attempt_count == 0
    assert sorted(server.ids()) == sorted([str(wanted.id), str(last.id)])


async def test_breaker_stops_claiming_for_a_dead_consumer(settings_for) -> None:
    async with ConsumerServer(default=Respond(503)) as dead, ConsumerServer() as alive:
        plugins = funnel_plugins(dead.url) + http_consumer("crm", alive.url)
        settings = settings_for(
            plugins,
            PAYMENTS_DELIVERY_CONCURRENCY="1",
            PAYMENTS_DELIVERY_BREAKER_THRESHOLD="2",
            PAYMENTS_DELIVERY_BREAKER_COOLDOWN="600",
        )
        async with running_dispatcher(settings) as dispatcher:
            for _ in range(3):
                await new_event("funnel")

            async def opened() -> bool:
                return dispatcher.breaker.is_open("funnel", dispatcher.clock())

            await eventually(opened, what="breaker open")
            healthy = await new_event("crm")
            await settled(healthy, "delivered")
            assert len(dead.requests) == 2
            assert await DeliveryAttempt.filter(delivery__consumer_key="funnel").count() == 2
            assert await EventDelivery.filter(consumer_key="funnel", status="pending").count() == 3


async def test_a_slow_consumer_cannot_take_every_sending_slot(settings_for) -> None:
    async with ConsumerServer(default=Hold()) as slow, ConsumerServer() as quick:
        plugins = funnel_plugins(slow.url) + http_consumer("crm", quick.url)
        settings = settings_for(
            plugins, PAYMENTS_DELIVERY_CONCURRENCY="4", PAYMENTS_DELIVERY_TIMEOUT="3"
        )
        async with running_dispatcher(settings) as dispatcher:
            assert dispatcher.consumer_cap == 2
            for _ in range(5):
                await new_event("funnel")

            async def slow_full() -> bool:
                return slow.open_requests == 2

            await eventually(slow_full, what="two held requests to the slow consumer")
            quick_event = await new_event("crm")
            await settled(quick_event, "delivered")
            assert slow.open_requests == 2
            assert (
                await EventDelivery.filter(consumer_key="funnel", status="in_flight").count() == 2
            )
            slow.release()
            for delivery in await EventDelivery.filter(consumer_key="funnel"):
                await settled(await delivery.event, "delivered")


async def test_expired_lease_of_a_dead_worker_is_taken_over(settings_for) -> None:
    async with ConsumerServer() as server:
        event = await new_event()
        [claimed] = await claim_due([ConsumerScope("funnel")], "dead-worker", 0.3, 10)
        async with running_dispatcher(settings_for(funnel_plugins(server.url))) as dispatcher:
            delivery = await settled(event, "delivered")
        late = AttemptRecord(utcnow(), 5, 200, None, None)
        kept = await finish_attempt(
            claimed, "dead-worker", attempt=late, status="failed", next_attempt_at=None
        )

    assert kept is False  # the old owner cannot overwrite the new owner's result
    assert (await delivery_for(event)).status == "delivered"
    assert len(await attempts_of(delivery)) == 1
    assert dispatcher.owner != "dead-worker"


async def test_stop_releases_a_held_delivery_for_other_workers(settings_for) -> None:
    async with ConsumerServer() as server:
        server.then(Hold())
        settings = settings_for(funnel_plugins(server.url), PAYMENTS_DELIVERY_TIMEOUT="3")
        async with running_dispatcher(settings) as dispatcher:
            event = await new_event()
            await settled(event, "in_flight")

            async def held() -> bool:
                return server.open_requests == 1

            await eventually(held, what="request held")
            await dispatcher.stop(grace=0.1)
            released = await delivery_for(event)
            assert released.status == "pending"
            assert released.lease_owner is None
            assert released.attempt_count == 0
            server.release()


async def test_embedded_dispatcher_runs_inside_the_app_when_asked(settings_for) -> None:
    from web.app import create_app

    async with ConsumerServer() as server:
        settings = settings_for(funnel_plugins(server.url))
        off = create_app(settings, connect_database=False)
        async with off.test_app():
            assert "payments_dispatcher" not in off.extensions
        app = create_app(settings, connect_database=False, dispatcher=True)
        async with app.test_app():
            assert app.extensions["payments_dispatcher"].running
            event = await new_event()
            await settled(event, "delivered")
        assert "payments_dispatcher" not in app.extensions


async def test_wake_local_starts_a_new_delivery_without_waiting_for_a_poll(settings_for) -> None:
    async with ConsumerServer() as server:
        settings = settings_for(funnel_plugins(server.url), PAYMENTS_DELIVERY_POLL_INTERVAL="600")
        async with running_dispatcher(settings):
            event = await new_event()
            wake_local()
            await settled(event, "delivered")


@pytest.mark.postgres_only
async def test_postgres_notify_wakes_a_dispatcher_without_a_local_wake(
    settings_for, database: str
) -> None:
    async with ConsumerServer() as server:
        settings = settings_for(funnel_plugins(server.url), PAYMENTS_DELIVERY_POLL_INTERVAL="600")
        async with running_dispatcher(settings) as dispatcher:
            assert dispatcher.listener is not None

            async def listening() -> bool:
                assert dispatcher.listener is not None
                return dispatcher.listener.connected.is_set()

            await eventually(listening, what="LISTEN connection")
            event = await new_event()
            await settled(event, "delivered")


@pytest.mark.postgres_only
async def test_listen_connection_reconnects_after_being_dropped(
    settings_for, database: str
) -> None:
    from tortoise import connections

    from core.store.pg_listener import APPLICATION_NAME

    async with ConsumerServer() as server:
        settings = settings_for(funnel_plugins(server.url), PAYMENTS_DELIVERY_POLL_INTERVAL="600")
        async with running_dispatcher(settings) as dispatcher:
            listener = dispatcher.listener
            assert listener is not None

            async def connected(times: int) -> bool:
                return listener.connects >= times and listener.connected.is_set()

            await eventually(lambda: connected(1), what="LISTEN connection")
            await connections.get("default").execute_query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()",
                [APPLICATION_NAME],
            )
            await eventually(lambda: connected(2), what="LISTEN reconnection")
            event = await new_event()
            await settled(event, "delivered")
