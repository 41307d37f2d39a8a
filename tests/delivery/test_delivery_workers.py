"""Real `payments worker` processes sharing one PostgreSQL database.

Two workers never send one delivery at the same time (the consumer records any overlap),
and a worker killed with SIGKILL mid-batch has its deliveries completed by the other once
its lease expires. PostgreSQL only: SQLite's rule is one dispatcher per database file.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from core.models import DeliveryAttempt, EventDelivery
from tests.conftest import TOKEN
from tests.support.consumer_server import ConsumerServer, Hold, Respond
from tests.support.deliveries import eventually, funnel_plugins, new_event

# Several worker processes share one database only on PostgreSQL.
pytestmark = pytest.mark.postgres_only


class Worker:
    """One `payments worker` process; its log goes to a file the test can read."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        async def said_ready() -> bool:
            if self.process.returncode is not None:
                raise AssertionError(f"worker exited early:\n{self.output()}")
            return "worker ready" in self.output()

        await eventually(said_ready, within=30, what="worker ready")


@pytest.fixture
async def start_worker(
    database: str, tmp_path: Path, repo_root: Path, clean_env: dict[str, str]
) -> AsyncIterator[Callable[..., object]]:
    started: list[Worker] = []

    async def start(plugins: str, **env: str) -> Worker:
        plugins_path = tmp_path / "plugins.toml"
        plugins_path.write_text(plugins)
        log = tmp_path / f"worker-{len(started)}.log"
        process = await asyncio.create_subprocess_exec(
            str(repo_root / ".venv" / "bin" / "payments"),
            "worker",
            env={
                **clean_env,
                "PAYMENTS_DATABASE_URL": database,
                "PAYMENTS_INTERNAL_TOKEN": TOKEN,
                "PAYMENTS_PLUGINS_FILE": str(plugins_path),
                **env,
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log.open("wb"),
            cwd=str(tmp_path),
        )
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()


async def all_delivered(count: int) -> bool:
    return await EventDelivery.filter(status="delivered").count() == count


@asynccontextmanager
async def consumer(default: Respond | Hold) -> AsyncIterator[ConsumerServer]:
    async with ConsumerServer(default=default) as server:
        yield server


async def test_two_workers_never_send_one_delivery_at_the_same_time(start_worker) -> None:
    async with consumer(Respond(delay=0.02)) as server:
        env = {
            "PAYMENTS_DELIVERY_BATCH_SIZE": "4",
            "PAYMENTS_DELIVERY_CONCURRENCY": "4",
            "PAYMENTS_DELIVERY_POLL_INTERVAL": "0.05",
            "PAYMENTS_DELIVERY_TIMEOUT": "5",
            "PAYMENTS_DELIVERY_LEASE": "30",
        }
        workers = [await start_worker(funnel_plugins(server.url), **env) for _ in range(2)]
        for worker in workers:
            await worker.ready()
        events = [await new_event(tenant=f"t{n}") for n in range(60)]
        await eventually(lambda: all_delivered(len(events)), within=60, what="all delivered")

        for worker in workers:
            worker.process.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(w.process.wait(), 30) for w in workers]

    assert server.concurrent_duplicates == []
    assert sorted(server.ids()) == sorted(str(e.id) for e in events)
    assert await DeliveryAttempt.all().count() == len(events)
    assert codes == [0, 0], [w.output() for w in workers]
    assert await EventDelivery.filter(status="in_flight").count() == 0


async def test_killed_worker_deliveries_are_completed_by_the_other(start_worker) -> None:
    async with consumer(Hold()) as server:
        env = {
            "PAYMENTS_DELIVERY_BATCH_SIZE": "10",
            "PAYMENTS_DELIVERY_CONCURRENCY": "10",
            "PAYMENTS_DELIVERY_POLL_INTERVAL": "0.1",
            "PAYMENTS_DELIVERY_TIMEOUT": "2",
            "PAYMENTS_DELIVERY_LEASE": "3.5",
        }
        first = await start_worker(funnel_plugins(server.url), **env)
        second = await start_worker(funnel_plugins(server.url), **env)
        await first.ready()
        await second.ready()
        events = [await new_event(tenant=f"t{n}") for n in range(5)]

        async def all_held() -> bool:
            return server.open_requests == len(events)

        await eventually(all_held, what="every delivery held open by the consumer")
        leased = await EventDelivery.filter(status="in_flight")
        assert len(leased) == len(events)
        owners = {int(d.lease_owner.split(":")[1]) for d in leased if d.lease_owner}
        victim = first if first.pid in owners else second
        survivor = second if victim is first else first
        killed = {
            d.id: d.lease_expires_at for d in leased if f":{victim.pid}:" in (d.lease_owner or "")
        }

        os.kill(victim.pid, signal.SIGKILL)
        await victim.process.wait()
        server.default = Respond()
        server.release()  # the survivor's own held requests (if any) now succeed

        await eventually(lambda: all_delivered(len(events)), within=30, what="all delivered")
        assert survivor.process.returncode is None

    assert killed, "the killed worker held no delivery"
    for delivery_id, lease_expired_at in killed.items():
        attempts = await DeliveryAttempt.filter(delivery_id=delivery_id)
        assert [a.status_code for a in attempts] == [200]
        assert lease_expired_at is not None
        assert attempts[0].started_at >= lease_expired_at
    assert server.concurrent_duplicates == []
    assert sorted(set(server.ids())) == sorted(str(e.id) for e in events)


async def test_sigterm_lets_an_in_flight_attempt_finish_before_exiting(start_worker) -> None:
    async with consumer(Hold()) as server:
        worker = await start_worker(
            funnel_plugins(server.url),
            PAYMENTS_DELIVERY_TIMEOUT="20",
            PAYMENTS_DELIVERY_POLL_INTERVAL="0.1",
        )
        await worker.ready()
        event = await new_event()

        async def held() -> bool:
            return server.open_requests == 1

        await eventually(held, what="the attempt held open by the consumer")
        worker.process.send_signal(signal.SIGTERM)

        async def stopping() -> bool:
            return "worker stopping" in worker.output()

        await eventually(stopping, what="the worker to begin stopping")
        assert worker.process.returncode is None  # still finishing its attempt
        server.release()
        code = await asyncio.wait_for(worker.process.wait(), 30)

    assert code == 0, worker.output()
    delivery = await EventDelivery.get(event_id=event.id)
    assert delivery.status == "delivered"
    assert delivery.lease_owner is None
    assert [a.status_code for a in await DeliveryAttempt.filter(delivery_id=delivery.id)] == [200]
