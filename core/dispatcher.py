"""The delivery dispatcher: claims due deliveries under a lease and sends them to consumers.

One loop per process claims batches (`core.delivery_claims`), never more than it has free
sending slots, so every claimed delivery is being sent while its lease runs. Sends share
one `aiohttp.ClientSession` (connection reuse), each bounded by the attempt timeout.
Every attempt is stored with the delivery's next state (`core.retry_policy`) in one
transaction guarded by the lease. A per-consumer circuit breaker (`core.circuit`) stops
claiming for a consumer that keeps failing.

The loop wakes on `core.outbox.wake_local()` (same process), on PostgreSQL `NOTIFY`
(other processes, `core.delivery_listener`), when a sending slot frees up while work was
waiting, and otherwise polls every `delivery_poll_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping

import aiohttp
import orjson

from core import __version__
from core.circuit import CircuitBreaker
from core.config import Settings
from core.consumers import DeliveryOutcome, EventConsumer, OutgoingEvent
from core.db import is_sqlite
from core.delivery_claims import AttemptRecord, Claimed, ConsumerScope, claim_due, finish_attempt
from core.delivery_claims import release as release_leases
from core.delivery_listener import NotifyListener
from core.models import NormalizedEvent
from core.outbox import EVENT_TYPES, event_body, on_local_wake
from core.retry_policy import decide
from core.timeutil import utcnow

log = logging.getLogger("platform_payments.delivery")

ERROR_BACKOFF_SECONDS = 2.0
PLUGIN_TIMEOUT_GRACE = 1.0
"""Extra seconds a consumer plugin gets past the attempt timeout before it is cut off."""


def new_owner_id() -> str:
    """This worker's lease owner: host, pid and a random suffix (unique per dispatcher)."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def consumer_scopes(consumers: Mapping[str, EventConsumer]) -> dict[str, ConsumerScope]:
    """What each configured consumer can be sent; unconfigured consumers are left out."""
    scopes = {}
    for key, consumer in consumers.items():
        if not consumer.configured:
            continue
        wanted = tuple(t for t in EVENT_TYPES if consumer.wants(t))
        scopes[key] = ConsumerScope(key, None if len(wanted) == len(EVENT_TYPES) else wanted)
    return scopes


class Dispatcher:
    """Sends the outbox's deliveries; `start()` it on a running loop, `stop()` it once."""

    def __init__(
        self,
        settings: Settings,
        consumers: Mapping[str, EventConsumer],
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.consumers = dict(consumers)
        self.owner = owner or new_owner_id()
        self.breaker = CircuitBreaker(
            settings.delivery_breaker_threshold, settings.delivery_breaker_cooldown
        )
        self._scopes = consumer_scopes(self.consumers)
        self._rng = rng or random.Random()
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = False
        self._starved = False
        self._sending: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._listener: NotifyListener | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    def wake(self) -> None:
        """Claim now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is not None:
            raise RuntimeError("dispatcher already started")
        if not self._scopes:
            log.warning("no configured consumer: deliveries wait until one is configured")
        connector = aiohttp.TCPConnector(limit=self.settings.delivery_concurrency)
        self._http = aiohttp.ClientSession(
            connector=connector, headers={"user-agent": f"platform-payments/{__version__}"}
        )
        self._unsubscribe = on_local_wake(self.wake)
        if not is_sqlite(self.settings.database_url):
            self._listener = NotifyListener(self.settings.database_url, self.wake)
            self._listener.start()
        self._loop_task = asyncio.create_task(self._loop(), name="payments-delivery-dispatch")
        log.info("delivery dispatcher %s started", self.owner)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let in-flight attempts finish (up to `grace` seconds), then
        release whatever is still leased so another worker can send it at once.
        Stopping twice is harmless."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._loop_task is not None:
            await self._loop_task
        if self._sending:
            wait = (
                self.settings.delivery_timeout + PLUGIN_TIMEOUT_GRACE + 2
                if grace is None
                else grace
            )
            _, unfinished = await asyncio.wait(self._sending, timeout=wait)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        try:
            released = await release_leases(self.owner)
            if released:
                log.info("released %d unfinished deliveries", released)
        except Exception as error:
            log.warning("could not release leases (they expire on their own): %s", error)
        if self._listener is not None:
            await self._listener.stop()
        if self._http is not None:
            await self._http.close()
        log.info("delivery dispatcher %s stopped", self.owner)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                more = await self._claim_and_send()
            except Exception:
                log.exception("claiming deliveries failed; retrying in %ss", ERROR_BACKOFF_SECONDS)
                await self._pause(ERROR_BACKOFF_SECONDS)
                continue
            if not more:
                await self._pause(self.settings.delivery_poll_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _claim_and_send(self) -> bool:
        """Claim what free slots allow; True when more may be due and slots remain."""
        free = self.settings.delivery_concurrency - len(self._sending)
        if free <= 0:
            self._starved = True
            return False
        now = self._clock()
        closed = [s for key, s in self._scopes.items() if self.breaker.closed(key)]
        limit = min(self.settings.delivery_batch_size, free)
        claimed = await claim_due(closed, self.owner, self.settings.delivery_lease, limit)
        free -= len(claimed)
        for key, scope in self._scopes.items():
            if free > 0 and self.breaker.probe_due(key, now):
                probe = await claim_due([scope], self.owner, self.settings.delivery_lease, 1)
                if probe:
                    self.breaker.start_probe(key)
                    claimed += probe
                    free -= 1
        await self._send_all(claimed)
        self._starved = free <= 0
        return len(claimed) >= limit and free > 0

    async def _send_all(self, claimed: list[Claimed]) -> None:
        if not claimed:
            return
        try:
            events = {
                event.id: event
                for event in await NormalizedEvent.filter(id__in=[c.event_id for c in claimed])
            }
        except Exception:
            await release_leases(self.owner, [c.id for c in claimed])
            raise
        for delivery in claimed:
            body = orjson.dumps(event_body(events[delivery.event_id]))
            task = asyncio.create_task(self._send(delivery, body))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if self._starved and not self._stopping:
            self._wake.set()

    async def _attempt(self, consumer: EventConsumer, event: OutgoingEvent) -> DeliveryOutcome:
        timeout = self.settings.delivery_timeout
        assert self._http is not None
        try:
            async with asyncio.timeout(timeout + PLUGIN_TIMEOUT_GRACE):
                return await consumer.deliver(event, self._http, timeout)
        except TimeoutError:
            return DeliveryOutcome(None, error=f"timed out after {timeout:g}s")
        except Exception as error:  # a plugin must not take the dispatcher down
            log.exception("consumer '%s' raised while delivering", consumer.key)
            return DeliveryOutcome(None, error=f"consumer plugin error: {type(error).__name__}")

    async def _send(self, delivery: Claimed, body: bytes) -> None:
        try:
            await self._send_once(delivery, body)
        except Exception:  # the delivery stays leased and is retried after its lease
            log.exception("sending delivery %s failed unexpectedly", delivery.id)

    async def _send_once(self, delivery: Claimed, body: bytes) -> None:
        consumer = self.consumers[delivery.consumer_key]
        event = OutgoingEvent(
            str(delivery.event_id), delivery.event_type, delivery.consumer_key, body
        )
        started_at = utcnow()
        started = time.monotonic()
        outcome = await self._attempt(consumer, event)
        duration_ms = round((time.monotonic() - started) * 1000)
        self.breaker.record(delivery.consumer_key, outcome, self._clock())
        decision = decide(
            outcome,
            delivery.attempt_count + 1,
            self.settings.delivery_retry_schedule,
            utcnow(),
            jitter=self.settings.delivery_jitter,
            rng=self._rng,
        )
        record = AttemptRecord(
            started_at, duration_ms, outcome.status_code, outcome.error, outcome.response_body
        )
        kept = await finish_attempt(
            delivery,
            self.owner,
            attempt=record,
            status=decision.status,
            next_attempt_at=decision.next_attempt_at,
        )
        if not kept:
            log.warning("lease on delivery %s was taken over; attempt not recorded", delivery.id)
        elif decision.status == "failed":
            log.warning(
                "delivery %s to '%s' failed for good: %s",
                delivery.id,
                delivery.consumer_key,
                outcome.error or outcome.status_code,
            )
