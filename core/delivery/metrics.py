"""Prometheus series for event delivery (exposed by `GET /metrics` with the others).

Labels stay low-cardinality: consumer keys are few, results are a fixed set.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "payments_delivery_attempts_total",
    "Attempts to deliver a normalized event, by consumer and what became of the delivery",
    ["consumer", "result"],
)
"""`result`: delivered | retry (pending again) | failed (for good) | lease_lost (not recorded)."""

DELIVERY_SECONDS = Histogram(
    "payments_delivery_attempt_seconds",
    "Time one delivery attempt took, answer or timeout",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
