"""A process-local cache of plan-status answers, kept exact by invalidation on every change.

Plan status is the read products make on every request they guard, so answers are cached per
(tenant, consumerKey). Correctness comes first:

- Every transaction that changes what plan status reads (a subscription or purchase of a
  tenant; any pricing item) sends `NOTIFY payments_plan_status` with the tenant id (or `*`),
  which PostgreSQL delivers at commit, to every process. Each process drops the tenant's
  answers when it hears it, and the process that committed drops them right after its own
  commit, before it answers its caller.
- The cache is used only while this process's LISTEN connection is up (on PostgreSQL); while
  it is down, and always on SQLite (where other processes cannot tell us), every read goes to
  the database. Losing the connection empties the cache.
- A read that raced with an invalidation is not stored: each invalidation bumps a generation,
  and an answer is stored only if no invalidation happened since its read began.
- An answer also expires: after `TTL_SECONDS`, and when time alone would change it (a
  past_due tenant's grace period ending), since no write announces that.
- It is bounded by bytes, not by tenants: an answer lists the tenant's paid purchases, so
  its size varies from a few hundred bytes to many kilobytes. The least recently read
  tenants go first once the answers held pass `CAPACITY_BYTES`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from functools import partial

from tortoise.backends.base.client import BaseDBAsyncClient

from core.store import sql
from core.store.dialect import is_postgres
from core.store.pg_listener import NotifyListener
from core.store.unit_of_work import after_commit

CHANNEL = "payments_plan_status"
APPLICATION_NAME = "payments-plan-status-listen"
EVERYONE = "*"
TTL_SECONDS = 60.0
CAPACITY_BYTES = 16 * 1024 * 1024
"""What the answers held may weigh, with `ENTRY_OVERHEAD` counted for each. Measured on
`serve`: 10,000 answers counted at 13 MB here took its RSS from 80 to 124 MB (the allocator
keeps the pages the answers are spread over), so this bound keeps `serve` under 150 MB."""
ENTRY_OVERHEAD = 200
"""About what Python spends around one answer (its bytes object, tuple, dict slots)."""


class PlanStatusCache:
    """Answers by tenant, then by consumer key (None: not narrowed); least recently used out."""

    def __init__(self, capacity_bytes: int = CAPACITY_BYTES, ttl: float = TTL_SECONDS) -> None:
        self._tenants: OrderedDict[str, dict[str | None, tuple[float, bytes]]] = OrderedDict()
        self._capacity = capacity_bytes
        self.size = 0
        """Bytes held: the answers' lengths plus `ENTRY_OVERHEAD` each."""
        self._ttl = ttl
        self.generation = 0
        self.enabled = False
        """True only while invalidations from every process can reach us."""

    def get(self, tenant: str, consumer_key: str | None) -> bytes | None:
        if not self.enabled:
            return None
        answers = self._tenants.get(tenant)
        found = answers.get(consumer_key) if answers is not None else None
        if found is None:
            return None
        expires, answer = found
        if expires <= time.monotonic():
            del answers[consumer_key]  # type: ignore[union-attr]
            self.size -= len(answer) + ENTRY_OVERHEAD
            return None
        self._tenants.move_to_end(tenant)
        return answer

    def put(
        self,
        tenant: str,
        consumer_key: str | None,
        answer: bytes,
        *,
        read_at_generation: int,
        valid_for: float | None,
    ) -> None:
        """Keep an answer read when the generation was `read_at_generation`, if still current."""
        if not self.enabled or read_at_generation != self.generation:
            return
        lifetime = self._ttl if valid_for is None else min(self._ttl, valid_for)
        if lifetime <= 0:
            return
        answers = self._tenants.setdefault(tenant, {})
        replaced = answers.get(consumer_key)
        if replaced is not None:
            self.size -= len(replaced[1]) + ENTRY_OVERHEAD
        answers[consumer_key] = (time.monotonic() + lifetime, answer)
        self.size += len(answer) + ENTRY_OVERHEAD
        self._tenants.move_to_end(tenant)
        while self.size > self._capacity and self._tenants:
            self._forget(self._tenants.popitem(last=False)[1])

    def _forget(self, answers: dict[str | None, tuple[float, bytes]]) -> None:
        self.size -= sum(len(answer) + ENTRY_OVERHEAD for _, answer in answers.values())

    def invalidate(self, tenants: Iterable[str]) -> None:
        """Drop the answers of these tenants (`*` or the empty reconnect signal: all)."""
        self.generation += 1
        for tenant in tenants:
            if tenant in (EVERYONE, ""):
                self._clear()
                return
            answers = self._tenants.pop(tenant, None)
            if answers is not None:
                self._forget(answers)

    def _clear(self) -> None:
        self._tenants.clear()
        self.size = 0

    def set_enabled(self, enabled: bool) -> None:
        self.generation += 1
        self._clear()
        self.enabled = enabled

    def __len__(self) -> int:
        return len(self._tenants)


cache = PlanStatusCache()
"""This process's cache: one per process, shared by every app and service in it."""


async def announce(
    conn: BaseDBAsyncClient, tenants: Iterable[str], *, notified: Collection[str] = ()
) -> None:
    """Inside a unit of work: these tenants' plan changed. Every process is told at commit
    (`NOTIFY` on PostgreSQL; `notified` names tenants whose NOTIFY already went with an
    outbox statement), and this process drops their answers once the commit succeeded,
    before its caller answers."""
    postgres = is_postgres(conn)
    for tenant in sorted(set(tenants)):
        after_commit(conn, (CHANNEL, tenant), partial(cache.invalidate, (tenant,)))
        if postgres and tenant not in notified:
            await sql.notify_later(conn, CHANNEL, tenant)


def start_plan_cache(database_url: str) -> NotifyListener | None:
    """Turn this process's cache on while a LISTEN connection hears every invalidation.

    On SQLite nothing is started and the cache stays off: no other process could tell us.
    """
    if not database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return None
    listener = NotifyListener(
        database_url,
        lambda tenant: cache.invalidate([tenant]),
        channel=CHANNEL,
        application_name=APPLICATION_NAME,
        on_connection=cache.set_enabled,
    )
    listener.start()
    return listener


async def stop_plan_cache(listener: NotifyListener | None) -> None:
    if listener is not None:
        await listener.stop()
    cache.set_enabled(False)
