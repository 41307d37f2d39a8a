"""Re-reading one object from its provider and applying what differs, as a webhook would.

The object is read with no transaction open; the facts go through
`core.ingest.observed.apply_read`, so a change the read finds emits the normalized event its
lost webhook would have.

Each read is applied at the later of the object's own time (`observed_at`) and the moment
the read began, less `READ_MARGIN`. An object's own timestamps do not move with every change
(a Stripe subscription has no "updated" time: moving it to past_due or to another price
changes none of them), so at its own time alone a read would lose to the last event we did
receive and repair nothing. The read is the provider's state as of its start; the margin
covers the provider's clock (whole seconds, a little skew), so an event about a change made
just after the read began is still newer than the read and applies after it. Applying the same read twice (two reconciles at once,
the sweep beside a command) changes nothing the second time: the appliers lock the record
and move it only forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from core.checkout.sessions import refresh_facts
from core.errors import ApiError, ProviderObjectMissing
from core.facts import Fact
from core.ingest.appliers.context import TenantUnknown
from core.ingest.observed import apply_read
from core.plugins import Registry
from core.reconcile.objects import Known
from core.timeutil import utcnow

log = logging.getLogger("platform_payments.reconcile")

READ_MARGIN = timedelta(seconds=1)

Outcome = Literal["unchanged", "changed", "missing", "error"]


@dataclass(frozen=True)
class Checked:
    known: Known
    outcome: Outcome
    message: str | None = None
    touched: frozenset[str] = frozenset()


async def read_facts(registry: Registry, known: Known) -> list[Fact]:
    """What the provider says of the object now, as facts (one provider call, or two for a
    completed checkout: its subscription or payment too)."""
    provider = registry.provider(known.provider_key)
    if known.kind == "subscription":
        return [await provider.retrieve_subscription(known.provider_object_id)]
    if known.kind == "checkout_session":
        remote = await provider.retrieve_checkout_session(known.provider_object_id)
        return await refresh_facts(provider, remote)
    return list(await provider.read_payment(known.provider_object_id))


def _at_least(fact: Fact, floor: datetime) -> Fact:
    observed = fact.observed_at
    return fact if observed is not None and observed >= floor else replace(fact, observed_at=floor)


async def check(registry: Registry, known: Known, *, dry_run: bool = False) -> Checked:
    """Read one object and apply what differs; never raises for one object's trouble."""
    floor = utcnow() - READ_MARGIN
    try:
        facts = [_at_least(fact, floor) for fact in await read_facts(registry, known)]
        applied = await apply_read(known.provider_key, facts, dry_run=dry_run)
    except ProviderObjectMissing as missing:
        return Checked(known, "missing", missing.message)
    except ApiError as error:
        return Checked(known, "error", error.message)
    except TenantUnknown as unknown:
        return Checked(known, "error", f"the provider's object names no tenant we know ({unknown})")
    except Exception as error:
        log.exception("reconciling %s failed", known.label)
        return Checked(known, "error", f"{type(error).__name__}: {error}")
    outcome: Outcome = "changed" if applied.changed else "unchanged"
    return Checked(known, outcome, touched=frozenset(applied.touched))
