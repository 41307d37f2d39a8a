"""The provider-read runner: objects a webhook told us about, read from their provider later.

A completed subscription checkout names its subscription, and the contract maps it to the
subscription's own event too; an endpoint that receives only checkout events would never
learn the subscription. So the checkout's transaction leaves a task (`provider_reads`,
written by `core.ingest.appliers.links`), and this runner, started beside the delivery dispatcher
in `payments worker` and in `payments serve`, does the rest off the request path:

1. claims due tasks under a lease (`core.ingest.provider_read_tasks`: `SKIP LOCKED` on PostgreSQL,
   so several processes share the table);
2. skips the call when the subscription became known meanwhile (its own webhook came);
3. reads the subscription from its provider (`PaymentProvider.retrieve_subscription`) with
   no transaction open;
4. applies it through the webhook path at the object's own time (`core.ingest.observed`), and
   marks the task done in that same transaction. Its `subscription.created` is the one the
   webhook would have written; if the webhook wins the race, the subscription's unique key
   makes this an update of the same record, and the ordering rules keep the newest state.

A failure (the provider down or refusing, the tenant unknown) is retried after
`PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE`; after the last attempt the task stays `failed` and
is logged with its ids. The runner wakes when a task is written in this process (after the
commit, on `core.delivery.outbox.wake_local`), and polls every `PAYMENTS_DELIVERY_POLL_INTERVAL`
seconds for tasks written elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from core.config import Settings
from core.delivery.dispatcher import new_owner_id
from core.delivery.outbox import on_local_wake
from core.ingest import provider_read_tasks
from core.ingest.observed import apply_read
from core.ingest.provider_read_tasks import ClaimedRead
from core.models import Subscription
from core.plugins import Registry
from core.store import records
from core.timeutil import utcnow

log = logging.getLogger("platform_payments.provider_reads")

Handler = Callable[[Registry, ClaimedRead], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def register_kind(kind: str, handler: Handler) -> None:
    """Let a subdomain above this one (the reconcile sweep) run its own kind of task here:
    `handler` reads and applies it, raising to have it retried on the schedule."""
    _HANDLERS[kind] = handler


LEASE_SECONDS = 120.0
"""Longer than a provider read can take (the Stripe plugin's timeout and retries)."""
BATCH = 10
ERROR_BACKOFF_SECONDS = 2.0


class ProviderReadRunner:
    """Runs due provider reads; `start()` it on a running loop, `stop()` it once."""

    def __init__(self, settings: Settings, registry: Registry, *, owner: str | None = None):
        self.registry = registry
        self.schedule = settings.provider_read_retry_schedule
        self.poll_interval = settings.delivery_poll_interval
        self.owner = owner or new_owner_id()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._asked = provider_read_tasks.asked_here()
        self._unsubscribe: Callable[[], None] | None = None

    def _on_local_wake(self) -> None:
        """Every webhook wakes the outbox; this runner only when a read was asked for."""
        asked = provider_read_tasks.asked_here()
        if asked != self._asked:
            self._asked = asked
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("provider-read runner already started")
        self._unsubscribe = on_local_wake(self._on_local_wake)
        self._task = asyncio.create_task(self._loop(), name="payments-provider-reads")

    async def stop(self) -> None:
        """Finish the read in progress, give back what was claimed and not begun."""
        self._stopping = True
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                ran = await self.run_due()
            except Exception:
                log.exception("claiming provider reads failed; retrying shortly")
                await self._pause(ERROR_BACKOFF_SECONDS)
                continue
            if ran < BATCH:
                await self._pause(self.poll_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def run_due(self) -> int:
        """Claim and run one batch of due reads, one after the other; how many were claimed."""
        claimed = await provider_read_tasks.claim_due(self.owner, LEASE_SECONDS, BATCH)
        for position, task in enumerate(claimed):
            if self._stopping:
                await provider_read_tasks.release(self.owner, [t.id for t in claimed[position:]])
                break
            await self._run(task)
        return len(claimed)

    async def _run(self, task: ClaimedRead) -> None:
        try:
            await self._read_and_apply(task)
        except Exception as error:  # the runner outlives any one read
            await self._failed(task, error)

    async def _read_and_apply(self, task: ClaimedRead) -> None:
        handler = _HANDLERS.get(task.kind)
        if handler is not None:
            await handler(self.registry, task)
            await provider_read_tasks.finish(task, self.owner, status="done", due_at=utcnow())
            return
        if task.kind != provider_read_tasks.SUBSCRIPTION:
            raise ValueError(f"no provider read of kind '{task.kind}'")
        known = await records.find(
            Subscription._meta.db,
            Subscription,
            provider_key=task.provider_key,
            provider_subscription_id=task.provider_object_id,
        )
        if known is not None:
            await provider_read_tasks.finish(task, self.owner, status="done", due_at=utcnow())
            log.info(
                "subscription %s of %s became known by its own event; not read",
                task.provider_object_id,
                task.provider_key,
            )
            return
        provider = self.registry.provider(task.provider_key)
        fact = await provider.retrieve_subscription(task.provider_object_id)

        async def done(conn: BaseDBAsyncClient) -> None:
            kept = await provider_read_tasks.finish(
                task, self.owner, status="done", due_at=utcnow(), conn=conn
            )
            if not kept:  # applying it twice changes nothing; the other runner's is the same
                log.warning("lease on provider read %s was taken over", task.id)

        await apply_read(task.provider_key, [fact], then=done)
        log.info(
            "subscription %s of %s read and applied",
            fact.provider_subscription_id,
            task.provider_key,
        )

    async def _failed(self, task: ClaimedRead, error: Exception) -> None:
        reason = f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
        now = utcnow()
        final = task.attempts > len(self.schedule)
        status = "failed" if final else "pending"
        due = now if final else _after(now, self.schedule[task.attempts - 1])
        try:
            await provider_read_tasks.finish(
                task, self.owner, status=status, due_at=due, error=reason
            )
        except Exception:
            log.exception("provider read %s could not be rescheduled (its lease expires)", task.id)
            return
        if final:
            log.error(
                "provider read %s (%s %s of %s) failed for good after %d attempts: %s",
                task.id,
                task.kind,
                task.provider_object_id,
                task.provider_key,
                task.attempts,
                reason,
            )
        else:
            log.warning(
                "provider read %s (%s %s of %s) failed, attempt %d, again at %s: %s",
                task.id,
                task.kind,
                task.provider_object_id,
                task.provider_key,
                task.attempts,
                due.isoformat(),
                reason,
            )


async def start_runner(settings: Settings, registry: Registry) -> ProviderReadRunner:
    """A started runner (for `payments serve`, beside its embedded dispatcher)."""
    runner = ProviderReadRunner(settings, registry)
    await runner.start()
    return runner


async def stop_runner(runner: ProviderReadRunner | None) -> None:
    if runner is not None:
        await runner.stop()


def _after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
