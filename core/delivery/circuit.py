"""A per-consumer circuit breaker, so one dead consumer does not slow delivery to the others.

After `threshold` consecutive failures (no answer, 5xx or 429) the consumer's circuit
opens: its deliveries are not claimed for `cooldown` seconds. Then one probe delivery is
let through (half-open); success closes the circuit, failure opens it again. State is
kept in memory per process: each worker learns on its own that a consumer is down.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.consumers import DeliveryOutcome


def counts_as_failure(outcome: DeliveryOutcome) -> bool:
    """Failures that say the consumer is down or overloaded, not that it refused one event."""
    code = outcome.status_code
    return code is None or code >= 500 or code == 429


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Tracks consecutive failures per consumer key; time is passed in (monotonic seconds)."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._states: dict[str, _State] = {}

    def _state(self, key: str) -> _State:
        return self._states.setdefault(key, _State())

    def closed(self, key: str) -> bool:
        """Deliveries to this consumer may be claimed freely."""
        return self._state(key).open_until is None

    def probe_due(self, key: str, now: float) -> bool:
        """The circuit is open, its cool-down is over and no probe is out yet."""
        state = self._state(key)
        return state.open_until is not None and now >= state.open_until and not state.probing

    def start_probe(self, key: str) -> None:
        self._state(key).probing = True

    def record(self, key: str, outcome: DeliveryOutcome, now: float) -> None:
        """Count one attempt's outcome."""
        state = self._state(key)
        if not counts_as_failure(outcome):
            self._states[key] = _State()
            return
        state.failures += 1
        if state.probing or state.failures >= self.threshold:
            state.open_until = now + self.cooldown
        state.probing = False

    def release_probe(self, key: str) -> None:
        """A probe ended without an outcome (lease lost, shutdown): allow another."""
        self._state(key).probing = False

    def is_open(self, key: str, now: float) -> bool:
        state = self._state(key)
        return state.open_until is not None and now < state.open_until
