"""Prometheus metrics: what an operator graphs and alerts on.

Kept to a handful of low-cardinality series (routes by their rule, not their URL).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "payments_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "payments_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WEBHOOK_EVENTS = Counter(
    "payments_webhook_events_total", "Provider webhook events by outcome", ["provider", "status"]
)
NORMALIZED_EVENTS = Counter(
    "payments_normalized_events_total", "Normalized events written to the outbox", ["type"]
)
