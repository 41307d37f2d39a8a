"""The delivery dispatcher: claims due deliveries under a lease and sends them to consumers.

One loop per process claims batches (`core.delivery.claims`), consumer by consumer, never
more than it has free sending slots (so every claimed delivery is being sent while its lease
runs) nor more than one consumer's cap (so a slow consumer leaves room for the others). Sends share
one `aiohttp.ClientSession` (connection reuse), each bounded by the attempt timeout.
Every attempt is stored with the delivery's next state (`core.delivery.retry_policy`) in one
transaction guarded by the lease. A per-consumer circuit breaker (`core.delivery.circuit`) stops
claiming for a consumer that keeps failing.

The loop wakes on `core.delivery.outbox.wake_local()` (same process), on PostgreSQL `NOTIFY`
(other processes, `core.store.pg_listener`), when a sending slot frees up while work was
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
from collections import Counter
from collections.abc import Callable, Mapping

import aiohttp
import orjson

from core import __version__
from core.config import Settings
from core.consumers import DeliveryOutcome, EventConsumer, OutgoingEvent
from core.delivery.circuit import CircuitBreaker
from core.delivery.claims import AttemptRecord, Claimed, ConsumerScope, claim_due, finish_attempt
from core.delivery.claims import release as release_leases
from core.delivery.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS
from core.delivery.outbox import NOTIFY_CHANNEL, event_body, on_local_wake
from core.delivery.retry_policy import decide
from core.events import EVENT_TYPES
from core.models import NormalizedEvent
from core.models.delivery import PENDING
from core.store.db import is_sqlite
from core.store.pg_listener import NotifyListener
from core.timeutil import utcnow

log = logging.getLogger("platform_payments.delivery")

ERROR_BACKOFF_SECONDS = 2.0
PLUGIN_TIMEOUT_GRACE = 1.0
"""Extra seconds a consumer plugin gets past the attempt timeout before it is cut off."""


def new_owner_id() -> str:
    """This worker's lease owner: host, pid and a random suffix (unique per dispatcher)."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_consumer_cap(concurrency: int, consumers: int) -> int:
    """Every slot for a lone consumer; with several, each may take at most half (rounded up),
    so a slow consumer always leaves room for the others."""
    return concurrency if consumers <= 1 else max(1, -(-concurrency // 2))


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
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = False
        self._starved = False
        self._sending: dict[asyncio.Task[None], str] = {}
        self._busy: Counter[str] = Counter()
        self._turn = 0
        self.consumer_cap = settings.delivery_consumer_concurrency or default_consumer_cap(
            settings.delivery_concurrency, len(self._scopes)
        )
        """Most attempts in flight to one consumer at once."""
        self._loop_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._listener: NotifyListener | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def listener(self) -> NotifyListener | None:
        """The PostgreSQL LISTEN connection's keeper (None on SQLite)."""
        return self._listener

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
            self._listener = NotifyListener(
                self.settings.database_url, lambda _payload: self.wake(), channel=NOTIFY_CHANNEL
            )
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
            _, unfinished = await asyncio.wait(list(self._sending), timeout=wait)
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
        """Claim what free slots allow, consumer by consumer (each within its own cap, so a
        slow consumer cannot take every slot); True when more may be due and slots remain."""
        free = self.settings.delivery_concurrency - len(self._sending)
        if free <= 0:
            self._starved = True
            return False
        now = self.clock()
        keys = list(self._scopes)
        if keys:
            self._turn = (self._turn + 1) % len(keys)
            keys = keys[self._turn :] + keys[: self._turn]
        claimed: list[Claimed] = []
        more = capped = False
        try:
            for key in keys:
                room = min(
                    free, self.consumer_cap - self._busy[key], self.settings.delivery_batch_size
                )
                if room <= 0:
                    capped = capped or free > 0
                    continue
                probing = not self.breaker.closed(key)
                if probing and not self.breaker.probe_due(key, now):
                    continue
                limit = 1 if probing else room
                got = await claim_due(
                    [self._scopes[key]], self.owner, self.settings.delivery_lease, limit
                )
                if got and probing:
                    self.breaker.start_probe(key)
                claimed += got
                free -= len(got)
                if len(got) >= limit and not probing:
                    more = True
                if free <= 0:
                    break
        finally:  # what was claimed is sent even if a later claim failed
            await self._send_all(claimed)
        self._starved = free <= 0 or capped or more
        return more and free > 0

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
            self._sending[task] = delivery.consumer_key
            self._busy[delivery.consumer_key] += 1
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        key = self._sending.pop(task, None)
        if key is not None:
            self._busy[key] -= 1
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
        elapsed = time.monotonic() - started
        duration_ms = round(elapsed * 1000)
        DELIVERY_SECONDS.labels(delivery.consumer_key).observe(elapsed)
        self.breaker.record(delivery.consumer_key, outcome, self.clock())
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
        result = decision.status if kept else "lease_lost"
        outcome_name = "retry" if result == PENDING else result
        DELIVERY_ATTEMPTS.labels(delivery.consumer_key, outcome_name).inc()
        _log_attempt(delivery, outcome, duration_ms, outcome_name)


def _log_attempt(
    delivery: Claimed, outcome: DeliveryOutcome, duration_ms: int, result: str
) -> None:
    """One line per attempt: delivered, retry (it is sent again later), failed (for good) or
    lease_lost (another worker took it over; this attempt is not recorded). Never the body
    sent, the consumer's answer or its headers (the token and the signature)."""
    level = logging.INFO if result in ("delivered", "retry") else logging.WARNING
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "delivery %s of event %s to '%s': %s (%s)",
        delivery.id,
        delivery.event_id,
        delivery.consumer_key,
        result,
        outcome.error or outcome.status_code,
        extra={
            "event": "delivery_attempt",
            "delivery_id": str(delivery.id),
            "event_id": str(delivery.event_id),
            "event_type": delivery.event_type,
            "consumer": delivery.consumer_key,
            "attempt": delivery.attempt_count + 1,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": duration_ms,
            "outcome": result,
        },
    )
