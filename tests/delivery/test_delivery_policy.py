"""The retry rule (schedule, jitter, Retry-After, 410, giving up) and the circuit breaker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Settings
from core.consumers import DeliveryOutcome
from core.delivery.circuit import CircuitBreaker
from core.delivery.dispatcher import default_consumer_cap
from core.delivery.retry_policy import MAX_RETRY_AFTER, decide, retry_delay
from core.errors import ConfigurationError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SCHEDULE = (60.0, 300.0, 900.0)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_success_is_delivered() -> None:
    assert decide(DeliveryOutcome(204), 1, SCHEDULE, NOW).status == "delivered"


def test_failures_follow_the_schedule_then_fail() -> None:
    failure = DeliveryOutcome(503)
    steps = [decide(failure, n, SCHEDULE, NOW) for n in (1, 2, 3, 4)]
    assert [s.status for s in steps] == ["pending", "pending", "pending", "failed"]
    assert [s.next_attempt_at for s in steps[:3]] == [at(60), at(300), at(900)]
    assert steps[3].next_attempt_at is None


def test_gone_fails_at_once() -> None:
    decision = decide(DeliveryOutcome(410), 1, SCHEDULE, NOW)
    assert (decision.status, decision.next_attempt_at) == ("failed", None)


def test_no_answer_is_retried() -> None:
    assert decide(DeliveryOutcome(None, error="timed out"), 1, SCHEDULE, NOW).status == "pending"


def test_jitter_stays_within_its_band() -> None:
    rng = random.Random(7)
    delays = [retry_delay(100, 0.1, None, rng) for _ in range(500)]
    assert min(delays) >= 90
    assert max(delays) <= 110
    assert len(set(delays)) > 1


def test_retry_after_longer_than_the_step_wins_and_is_capped() -> None:
    assert retry_delay(60, 0.0, 120, None) == 120
    assert retry_delay(60, 0.0, 10, None) == 60
    assert retry_delay(60, 0.0, 10 * MAX_RETRY_AFTER, None) == MAX_RETRY_AFTER
    decision = decide(DeliveryOutcome(429, retry_after=3600), 1, SCHEDULE, NOW)
    assert decision.next_attempt_at == at(3600)


def test_retry_after_on_the_last_attempt_still_fails() -> None:
    assert decide(DeliveryOutcome(429, retry_after=5), 4, SCHEDULE, NOW).status == "failed"


def test_breaker_opens_after_threshold_then_probes_once() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    down = DeliveryOutcome(None, error="refused")
    for _ in range(2):
        breaker.record("funnel", down, 0)
    assert breaker.closed("funnel")
    breaker.record("funnel", down, 0)
    assert not breaker.closed("funnel")
    assert breaker.is_open("funnel", 10)
    assert not breaker.probe_due("funnel", 29)
    assert breaker.probe_due("funnel", 30)
    breaker.start_probe("funnel")
    assert not breaker.probe_due("funnel", 31)
    breaker.record("funnel", down, 31)  # the probe failed: open again
    assert breaker.is_open("funnel", 60)
    assert breaker.probe_due("funnel", 61)
    breaker.start_probe("funnel")
    breaker.record("funnel", DeliveryOutcome(200), 62)
    assert breaker.closed("funnel")


def test_breaker_ignores_refusals_of_one_event_and_other_consumers() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=30)
    breaker.record("funnel", DeliveryOutcome(400), 0)
    breaker.record("funnel", DeliveryOutcome(410), 0)
    assert breaker.closed("funnel")
    breaker.record("crm", DeliveryOutcome(500), 0)
    assert not breaker.closed("crm")
    assert breaker.closed("funnel")
    breaker.record("funnel", DeliveryOutcome(429), 0)
    assert not breaker.closed("funnel")


def test_delivery_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "PAYMENTS_DELIVERY_LEASE": "90",
            "PAYMENTS_DELIVERY_BATCH_SIZE": "10",
            "PAYMENTS_DELIVERY_CONCURRENCY": "4",
            "PAYMENTS_DELIVERY_POLL_INTERVAL": "0.5",
            "PAYMENTS_DELIVERY_JITTER": "0",
            "PAYMENTS_DELIVERY_BREAKER_THRESHOLD": "3",
            "PAYMENTS_DELIVERY_BREAKER_COOLDOWN": "15",
            "PAYMENTS_EMBEDDED_DISPATCHER": "false",
            "PAYMENTS_DELIVERY_CONSUMER_CONCURRENCY": "2",
        }
    )
    assert settings.delivery_consumer_concurrency == 2
    assert settings.delivery_lease == 90
    assert settings.delivery_batch_size == 10
    assert settings.delivery_concurrency == 4
    assert settings.delivery_poll_interval == 0.5
    assert settings.delivery_jitter == 0
    assert settings.delivery_breaker_threshold == 3
    assert settings.delivery_breaker_cooldown == 15
    assert settings.embedded_dispatcher is False
    defaults = Settings.from_env({})
    assert defaults.embedded_dispatcher is True
    assert defaults.delivery_lease > defaults.delivery_timeout
    assert defaults.delivery_consumer_concurrency is None


def test_default_consumer_cap_leaves_room_for_the_others() -> None:
    assert default_consumer_cap(20, 1) == 20
    assert default_consumer_cap(20, 3) == 10
    assert default_consumer_cap(5, 2) == 3
    assert default_consumer_cap(1, 2) == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PAYMENTS_DELIVERY_TIMEOUT": "30", "PAYMENTS_DELIVERY_LEASE": "20"}, "LEASE"),
        ({"PAYMENTS_DELIVERY_BATCH_SIZE": "0"}, "BATCH_SIZE"),
        ({"PAYMENTS_DELIVERY_CONSUMER_CONCURRENCY": "0"}, "CONSUMER_CONCURRENCY"),
        ({"PAYMENTS_DELIVERY_CONCURRENCY": "x"}, "CONCURRENCY"),
        ({"PAYMENTS_DELIVERY_JITTER": "2"}, "JITTER"),
        ({"PAYMENTS_EMBEDDED_DISPATCHER": "maybe"}, "EMBEDDED_DISPATCHER"),
        ({"PAYMENTS_DELIVERY_POLL_INTERVAL": "-1"}, "POLL_INTERVAL"),
    ],
)
def test_bad_delivery_settings_stop_startup_with_one_line(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(env)
