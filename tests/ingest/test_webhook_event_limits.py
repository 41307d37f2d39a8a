"""`WebhookEvent` refuses what no column can store, for every provider plugin alike.

`core.ingest.intake` turns the refusal into 400 `webhook_payload_invalid` before anything is
stored; `tests/web/test_bad_input.py` sends such events signed, through the webhook route.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.facts import PaymentFact, SubscriptionFact, WebhookEvent

WHEN = datetime(2026, 9, 21, tzinfo=UTC)


def payment(**overrides: Any) -> PaymentFact:
    values: dict[str, Any] = {
        "provider_payment_id": "pi_1",
        "status": "paid",
        "amount": 100,
        "currency": "eur",
        "metadata": {"consumerKey": "funnel", "consumerTenantId": "t1"},
    }
    values.update(overrides)
    return PaymentFact(**values)


def test_a_storable_event_is_accepted() -> None:
    event = WebhookEvent("e" * 255, "t" * 120, WHEN, (payment(),), api_version="v" * 40)
    assert event.provider_event_id == "e" * 255


@pytest.mark.parametrize(
    ("build", "why"),
    [
        (lambda: WebhookEvent("e" * 256, "a.b", WHEN), "event id is longer than 255"),
        (lambda: WebhookEvent("evt_1", "t" * 121, WHEN), "event type is longer than 120"),
        (lambda: WebhookEvent("evt_1", "a.b", WHEN, api_version="v" * 41), "api version"),
        (lambda: WebhookEvent("evt_\x00", "a.b", WHEN), "event id contains a NUL"),
        (lambda: WebhookEvent("evt_1", "a.\x00", WHEN), "event type contains a NUL"),
        (lambda: WebhookEvent("evt_1", "a.b", WHEN, api_version="\x00"), "api version"),
        (
            lambda: WebhookEvent("evt_1", "a.b", WHEN, (payment(currency="e\x00r"),)),
            "PaymentFact.currency contains a NUL",
        ),
        (
            lambda: WebhookEvent("evt_1", "a.b", WHEN, (payment(metadata={"k\x00": "v"}),)),
            "PaymentFact.metadata contains a NUL",
        ),
        (
            lambda: WebhookEvent(
                "evt_1", "a.b", WHEN, (payment(metadata={"consumerTenantId": "t\x00"}),)
            ),
            "PaymentFact.metadata.consumerTenantId contains a NUL",
        ),
        (
            lambda: WebhookEvent("evt_1", "a.b", WHEN, (payment(provider_payment_id="p" * 256),)),
            "PaymentFact.provider_payment_id is longer than 255",
        ),
        (
            lambda: WebhookEvent(
                "evt_1", "a.b", WHEN, (payment(metadata={"consumerKey": "c" * 65}),)
            ),
            "PaymentFact.metadata.consumerKey is longer than 64",
        ),
        (
            lambda: WebhookEvent(
                "evt_1",
                "a.b",
                WHEN,
                (
                    SubscriptionFact(
                        provider_subscription_id="sub_1",
                        provider_customer_id="cus_\x00",
                        status="active",
                        current_period_start=None,
                        current_period_end=None,
                        cancel_at_period_end=False,
                        canceled_at=None,
                        trial_end=None,
                        ended_at=None,
                    ),
                ),
            ),
            "SubscriptionFact.provider_customer_id contains a NUL",
        ),
    ],
)
def test_an_unstorable_event_is_refused(build: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        build()
