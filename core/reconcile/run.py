"""One reconcile run: every object in scope re-read, a few at a time, and a report.

At most `concurrency` provider calls are in flight; the provider plugin backs off on its
own rate limit (Stripe: 429, retried with backoff). One object's failure never stops the
run: it is reported (`errors`, or `missing at provider` for an object the provider no longer
has, which is never dropped locally), and a second run picks it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from core.models import CheckoutSession, Purchase, Subscription
from core.plugins import Registry
from core.reconcile.objects import (
    ENDED_SUBSCRIPTION,
    FINAL_PURCHASE,
    Known,
    Scope,
    known_objects,
)
from core.reconcile.reads import Checked, check

DEFAULT_CONCURRENCY = 4


@dataclass
class Report:
    checked: int = 0
    changed: int = 0
    missing: list[str] = field(default_factory=list)
    """The objects the provider no longer has (labels)."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(object, why) for each object that could not be read or applied."""
    touched: set[str] = field(default_factory=set)

    def add(self, result: Checked) -> None:
        self.checked += 1
        if result.outcome == "changed":
            self.changed += 1
        elif result.outcome == "missing":
            self.missing.append(result.known.label)
        elif result.outcome == "error":
            self.errors.append((result.known.label, result.message or "failed"))
        self.touched |= result.touched

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"checked {self.checked}, changed {self.changed}, "
            f"missing at provider {len(self.missing)}, errors {len(self.errors)}"
        )


async def count_known(scope: Scope) -> int:
    """How many objects `known_objects` yields (for a progress bar's total)."""
    where = scope.lookups()
    unlinked = CheckoutSession.filter(**where, status="complete")
    return (
        await Subscription.filter(**where).exclude(status__in=ENDED_SUBSCRIPTION).count()
        + await CheckoutSession.filter(**where, status="open").count()
        + await Purchase.filter(**where).exclude(status__in=FINAL_PURCHASE).count()
        + await unlinked.filter(
            subscription_id__isnull=True, provider_subscription_id__isnull=False
        ).count()
        + await unlinked.filter(purchase_id__isnull=True, provider_payment_id__isnull=False).count()
    )


async def reconcile(
    registry: Registry,
    scope: Scope,
    *,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_checked: Callable[[Checked], None] | None = None,
) -> Report:
    """Re-read every object in scope; `on_checked` is told of each (a progress bar)."""
    report = Report()
    queue: asyncio.Queue[Known | None] = asyncio.Queue(maxsize=concurrency * 2)

    async def produce() -> None:
        try:
            async for known in known_objects(scope):
                await queue.put(known)
        finally:
            for _ in range(concurrency):
                await queue.put(None)

    async def work() -> None:
        while (known := await queue.get()) is not None:
            result = await check(registry, known, dry_run=dry_run)
            report.add(result)
            if on_checked is not None:
                on_checked(result)

    await asyncio.gather(produce(), *(work() for _ in range(max(1, concurrency))))
    return report
