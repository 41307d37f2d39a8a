"""The `/metrics` gauges: read from the database at scrape time, one statement each; the
circuits from this process's dispatcher; `payments worker` serves its own `/metrics`."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
from prometheus_client import REGISTRY

from core.config import Settings
from core.consumers import DeliveryOutcome
from core.delivery.dispatcher import Dispatcher
from core.gauges import CLOSED, HALF_OPEN, OPEN, refresh_gauges
from core.models import EventDelivery, ProviderEvent
from core.models.delivery import DELIVERED, FAILED, PENDING
from core.timeutil import utcnow
from tests.conftest import TOKEN
from tests.support.api import Api
from tests.support.deliveries import new_event
from tests.support.processes import PAYMENTS, free_port


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _deliveries() -> None:
    """funnel: 2 delivered, 1 failed, 1 pending (an hour old); crm: 1 pending."""
    for status in (DELIVERED, DELIVERED, FAILED, PENDING):
        event = await new_event("funnel")
        await EventDelivery.filter(event_id=event.id).update(status=status)
    oldest = await EventDelivery.get(consumer_key="funnel", status=PENDING)
    await EventDelivery.filter(id=oldest.id).update(created_at=utcnow() - timedelta(hours=1))
    await new_event("crm")


async def _provider_events() -> None:
    for number, status in enumerate(("deferred", "deferred", "unmatched", "processed")):
        await ProviderEvent.create(
            provider_key="stripe",
            provider_event_id=f"evt_{number}",
            type="customer.subscription.updated",
            event_created_at=utcnow(),
            payload="{}",
            status=status,
        )


async def test_metrics_has_the_gauges_read_at_scrape_time(api: Api) -> None:
    await _deliveries()
    await _provider_events()

    reply = await api.get("/metrics", token=None)

    assert reply.status == 200
    text = reply.raw.decode()
    assert 'payments_deliveries{consumer="funnel",status="delivered"} 2.0' in text
    expected = {
        ("funnel", "delivered"): 2,
        ("funnel", "failed"): 1,
        ("funnel", "pending"): 1,
        ("funnel", "in_flight"): 0,
        ("crm", "pending"): 1,
        ("crm", "delivered"): 0,
    }
    for (consumer, status), count in expected.items():
        assert sample("payments_deliveries", status=status, consumer=consumer) == count
    age = sample("payments_delivery_oldest_pending_seconds")
    assert age is not None and 3600 <= age < 3700
    assert sample("payments_provider_events_waiting", status="deferred") == 2
    assert sample("payments_provider_events_waiting", status="unmatched") == 1
    # no dispatcher in this app: no circuit of another process's is reported
    assert "payments_consumer_circuit_state{" not in text

    # read again at the next scrape: what changed shows
    await EventDelivery.filter(status=PENDING).update(status=DELIVERED)
    await ProviderEvent.filter(status="deferred").update(status="processed")
    await api.get("/metrics", token=None)
    assert sample("payments_deliveries", status="delivered", consumer="funnel") == 3
    assert sample("payments_deliveries", status="pending", consumer="crm") == 0
    assert sample("payments_delivery_oldest_pending_seconds") == 0
    assert sample("payments_provider_events_waiting", status="deferred") == 0


async def test_an_empty_database_has_zero_gauges(api: Api) -> None:
    await api.get("/metrics", token=None)
    assert sample("payments_deliveries", status="pending", consumer="funnel") == 0
    assert sample("payments_delivery_oldest_pending_seconds") == 0
    assert sample("payments_provider_events_waiting", status="unmatched") == 0


async def test_each_consumers_circuit_state(
    database: str, make_settings: Callable[..., Settings]
) -> None:
    now = [100.0]
    settings = make_settings(PAYMENTS_DELIVERY_BREAKER_THRESHOLD="2")
    dispatcher = Dispatcher(settings, {}, clock=lambda: now[0])
    down = DeliveryOutcome(status_code=503)
    for key in ("down", "probing"):
        for _ in range(2):
            dispatcher.breaker.record(key, down, now[0])
    now[0] += settings.delivery_breaker_cooldown  # "probing"'s cool-down is over ...
    dispatcher.breaker.record("down", down, now[0])  # ... "down" failed again meanwhile

    await refresh_gauges(["up", "down", "probing"], dispatcher)

    assert sample("payments_consumer_circuit_state", consumer="up") == CLOSED
    assert sample("payments_consumer_circuit_state", consumer="down") == OPEN
    assert sample("payments_consumer_circuit_state", consumer="probing") == HALF_OPEN


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_payments_worker_serves_its_own_metrics(
    database: str, clean_env: dict[str, str], plugins_file: Callable[[str], str], tmp_path: Path
) -> None:
    await new_event("funnel")
    port = free_port()
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": database,
        "PAYMENTS_INTERNAL_TOKEN": TOKEN,
        "PAYMENTS_PLUGINS_FILE": plugins_file(
            '[consumers.funnel]\nplugin = "funnel"\nevents_url = "http://127.0.0.1:9/events"\n'
            'token = "t"\n'
        ),
        "PAYMENTS_WORKER_METRICS_PORT": str(port),
        "PAYMENTS_HOST": "127.0.0.1",
        "PAYMENTS_DELIVERY_RETRY_SCHEDULE": "3600",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([PAYMENTS, "worker"], env=env, stdout=log, stderr=log)
        try:
            text = ""
            for _ in range(200):
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                try:
                    status, text = await _get(f"http://127.0.0.1:{port}/metrics")
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            assert status == 200
            assert 'payments_consumer_circuit_state{consumer="funnel"} 0.0' in text
            assert 'payments_deliveries{consumer="funnel",status=' in text
            assert "payments_delivery_oldest_pending_seconds" in text
            assert "payments_delivery_attempts_total" in text  # the worker's own counters
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0


def test_the_worker_metrics_port_is_unset_by_default() -> None:
    assert Settings.from_env({}).worker_metrics_port is None
    assert Settings.from_env({"PAYMENTS_WORKER_METRICS_PORT": "9464"}).worker_metrics_port == 9464


def test_a_taken_worker_metrics_port_is_one_line(
    database: str, clean_env: dict[str, str], plugins_file: Callable[[str], str]
) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **clean_env,
            "PAYMENTS_DATABASE_URL": database,
            "PAYMENTS_INTERNAL_TOKEN": TOKEN,
            "PAYMENTS_PLUGINS_FILE": plugins_file(""),
            "PAYMENTS_WORKER_METRICS_PORT": str(port),
            "PAYMENTS_HOST": "127.0.0.1",
        }
        done = subprocess.run(
            [PAYMENTS, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == (f"payments: error: PAYMENTS_WORKER_METRICS_PORT: port {port} is in use"), (
        done.stderr
    )
