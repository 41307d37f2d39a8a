"""Applying what was read back from a provider, each fact at the provider's own time of it.

An object read from a provider (the checkout refresh, `core.ingest.provider_reads`) says what its
state is, not when it got there; its `observed_at` is the provider's own time of that state
(`core.facts`). Applying it at this service's clock would compare two clocks: a real event
created, by the provider's clock, just before the read would then look older than the read
and be dropped as stale, and a read that lags a newer event could roll it back. So every
fact goes through the webhook path (`core.ingest.apply.apply_facts`) at its own `observed_at`,
all of them (and whatever the caller adds, `then`) in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core.facts import Fact, SubscriptionFact
from core.ingest.appliers.context import ApplyContext
from core.ingest.apply import apply_facts
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

log = logging.getLogger(__name__)

ATTEMPTS = 3
"""A read racing a webhook that creates the same record loses on its unique key once,
then finds the record (as `core.ingest.intake` does)."""


def moment(fact: Fact, fallback: datetime) -> datetime:
    """The time a fact is applied at: its `observed_at`, else `fallback` (a provider plugin
    that does not report one)."""
    return fact.observed_at or fallback


def _subscriptions_first(facts: Sequence[Fact]) -> list[Fact]:
    """A completed checkout applied after its subscription names it in its own event."""
    return sorted(facts, key=lambda fact: not isinstance(fact, SubscriptionFact))


@dataclass
class ReadApplied:
    """What applying a read did: the tenants it touched, and whether any record changed."""

    touched: set[str] = field(default_factory=set)
    changed: bool = False


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction, so everything it wrote rolls back."""


def changed_records(ctx: ApplyContext) -> bool:
    """Whether applying moved a record: an event went out, or a record was created or
    updated (some changes, a dispute under review, emit nothing)."""
    return bool(ctx.emitted) or any(
        key.endswith((".created", ".updated")) for key, count in ctx.outcomes.items() if count
    )


async def apply_read(
    provider_key: str,
    facts: Sequence[Fact],
    *,
    then: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None,
    dry_run: bool = False,
) -> ReadApplied:
    """Apply facts read from a provider, each at its own time, in one transaction; what it
    did. Raises what applying raises (`TenantUnknown`: nothing was kept). A `dry_run` applies
    them and rolls everything back: what would change, nothing changed and nothing sent."""
    fallback = utcnow()
    for attempt in range(1, ATTEMPTS + 1):
        result = ReadApplied()
        try:
            async with unit_of_work() as conn:
                for fact in _subscriptions_first(facts):
                    ctx = await apply_facts(
                        provider_key,
                        [fact],
                        occurred_at=moment(fact, fallback),
                        provider_event_id=None,
                        using_db=conn,
                    )
                    result.touched |= ctx.touched
                    result.changed = result.changed or changed_records(ctx)
                if then is not None:
                    await then(conn)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            return result
        except IntegrityError as error:
            if attempt == ATTEMPTS:
                raise
            log.info("applying a provider read again after a write conflict: %s", error)
            continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover
