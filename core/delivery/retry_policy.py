"""When a delivery is tried next: the retry schedule, jitter, `Retry-After`, and giving up.

A pure function of the attempt's outcome and the schedule, so the rule is written (and
tested) once, apart from the dispatcher that applies it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.consumers import DeliveryOutcome
from core.models.delivery import DELIVERED, FAILED, PENDING

GONE = 410
MAX_RETRY_AFTER = 24 * 3600.0
"""A consumer's `Retry-After` is honoured up to a day; beyond that the schedule rules."""


@dataclass(frozen=True)
class Decision:
    """What becomes of a delivery after one attempt."""

    status: str
    """delivered | pending (try again at `next_attempt_at`) | failed"""
    next_attempt_at: datetime | None = None


def retry_delay(
    step: float,
    jitter: float,
    retry_after: float | None,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next attempt: the step scaled by jitter, or the consumer's
    `Retry-After` when that asks for longer."""
    factor = 1.0 + (rng or random).uniform(-jitter, jitter) if jitter else 1.0
    delay = step * factor
    if retry_after is not None and retry_after > step:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def decide(
    outcome: DeliveryOutcome,
    attempts_in_run: int,
    schedule: Sequence[float],
    now: datetime,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> Decision:
    """The delivery's next state after its `attempts_in_run`-th attempt of this schedule.

    The schedule holds the waits between attempts, so it allows `len(schedule) + 1`
    attempts; 410 Gone ends the delivery at once.
    """
    if outcome.succeeded:
        return Decision(DELIVERED)
    if outcome.status_code == GONE or attempts_in_run > len(schedule):
        return Decision(FAILED)
    step = schedule[attempts_in_run - 1]
    delay = retry_delay(step, jitter, outcome.retry_after, rng)
    return Decision(PENDING, now + timedelta(seconds=delay))
