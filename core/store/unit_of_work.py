"""A transaction that remembers what must happen once it committed, and does it then.

Some effects of a write may only happen after its commit: waking this process's dispatcher
(the outbox rows must be visible to its claim), dropping this process's plan-status answers
(a read after the drop must see the new rows), replaying the deferred events a change made
placeable (the replay runs in transactions of its own, which must see the change). Before,
each writer called them by hand after its `async with`, and forgetting one left a stale cache
or a late delivery.

Now the code that causes an effect registers it where it writes (`after_commit(conn, key,
effect)`: the outbox when it records an event, `announce` when it tells caches a tenant
changed, the ingest when ids became known), and `unit_of_work()` runs them once the commit
succeeded: each key once, in the order first registered, never after a rollback. Every
writer of the service opens its transactions with `unit_of_work()`; registering an effect on
a connection that is not one (a plain `in_transaction`, or no transaction at all) raises, so
a writer that skips it fails in tests instead of leaving a cache stale in production.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

Effect = Callable[[], Awaitable[Any] | None]
"""Something to do after the commit: a function, or a coroutine function (awaited)."""
AFTER_COMMIT = "payments_after_commit"
"""The attribute of a transaction that holds its unit of work's effects, by key."""


class NotInUnitOfWork(RuntimeError):
    """An after-commit effect was registered on a connection no `unit_of_work()` opened."""


@asynccontextmanager
async def unit_of_work(connection_name: str | None = None) -> AsyncIterator[BaseDBAsyncClient]:
    """A transaction (`in_transaction`) whose registered effects run after its commit.

    Opened inside another unit of work it is a savepoint, and its effects join the outer
    one's (they run after the outer commit, also when only the savepoint rolled back: every
    effect is safe to run for nothing).

    An effect that raises stops the ones after it and reaches the caller, as a call written
    after the commit would have; what was committed stays committed.
    """
    outer: dict[Hashable, Effect] | None = getattr(
        connections.get(connection_name or "default"), AFTER_COMMIT, None
    )
    effects: dict[Hashable, Effect] = {} if outer is None else outer
    async with in_transaction(connection_name) as conn:
        setattr(conn, AFTER_COMMIT, effects)
        try:
            yield conn
        finally:
            if outer is None:
                setattr(conn, AFTER_COMMIT, None)
    if outer is not None:
        return  # a savepoint in a unit of work: its effects wait for the outer commit
    for effect in effects.values():
        outcome = effect()
        if inspect.isawaitable(outcome):
            await outcome


def after_commit(conn: BaseDBAsyncClient, key: Hashable, effect: Effect) -> None:
    """Run `effect` once `conn`'s unit of work has committed; a key already registered is kept."""
    effects: dict[Hashable, Effect] | None = getattr(conn, AFTER_COMMIT, None)
    if effects is None:
        raise NotInUnitOfWork(
            f"after-commit effect {key!r} registered outside a unit of work; "
            "open the transaction with core.store.unit_of_work.unit_of_work()"
        )
    effects.setdefault(key, effect)
