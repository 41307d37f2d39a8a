"""The `http` consumer plugin (and `funnel`, which is it under another name)."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from funnel_consumer.consumer import FunnelConsumer
from http_consumer.consumer import (
    RESPONSE_BODY_LIMIT,
    HttpConsumerSettings,
    HttpEventConsumer,
    parse_retry_after,
)
from standardwebhooks.webhooks import Webhook

from core.config import Settings
from core.consumers import OutgoingEvent
from core.errors import ConfigurationError
from core.plugins import build_plugin_manager, load_registry
from tests.support.consumer_server import ConsumerServer, Respond
from tests.support.deliveries import SECRET

EVENT = OutgoingEvent("3f1c0c5e-0000-4000-8000-000000000001", "purchase.paid", "crm", b'{"a":1}')


def consumer(**settings: object) -> HttpEventConsumer:
    return HttpEventConsumer("crm", "http", HttpConsumerSettings.model_validate(settings))


def test_signature_verifies_with_the_standardwebhooks_library() -> None:
    headers = consumer(events_url="http://x.test/e", signing_secret=SECRET, token="t").headers(
        EVENT
    )
    assert headers["webhook-id"] == EVENT.event_id
    assert headers["x-platform-internal-token"] == "t"
    assert Webhook(SECRET).verify(EVENT.body, headers) == {"a": 1}


def test_webhook_id_is_stable_and_timestamp_fresh_per_attempt() -> None:
    sender = consumer(events_url="http://x.test/e", signing_secret=SECRET)
    early = sender.headers(EVENT, datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    late = sender.headers(EVENT, datetime(2026, 11, 27, 10, 5, tzinfo=UTC))
    assert early["webhook-id"] == late["webhook-id"] == EVENT.event_id
    assert early["webhook-timestamp"] != late["webhook-timestamp"]
    assert early["webhook-signature"] != late["webhook-signature"]


def test_unsigned_without_a_secret_and_untokened_without_a_token() -> None:
    headers = consumer(events_url="http://x.test/e").headers(EVENT)
    assert set(headers) == {"content-type", "webhook-id"}


def test_configured_and_event_type_filter() -> None:
    assert not consumer().configured
    picky = consumer(events_url="https://x.test/e", event_types=["purchase.paid"])
    assert picky.configured
    assert picky.wants("purchase.paid")
    assert not picky.wants("purchase.failed")


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Fri, 27 Nov 2026 10:00:30 GMT", now) == 30
    assert parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('events_url = "ftp://x"', "events_url"),
        ('signing_secret = "whsec_!!!not base64!!!"', "signing_secret"),
        ('event_types = ["purchase.exploded"]', "event_types"),
        ('colour = "blue"', "colour"),
    ],
)
def test_bad_consumer_settings_stop_startup_with_one_line(
    tmp_path, table: str, problem: str
) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(f'[consumers.crm]\nplugin = "http"\n{table}\n')
    settings = Settings.from_env({"PAYMENTS_PLUGINS_FILE": str(path)})
    with pytest.raises(ConfigurationError, match=problem) as raised:
        load_registry(settings, build_plugin_manager())
    assert "\n" not in str(raised.value)
    assert "not base64" not in str(raised.value)  # never echo a secret


def test_funnel_is_the_http_consumer_under_its_own_name(tmp_path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[consumers.funnel]\nplugin = "funnel"\nevents_url = "${PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL}"\n'
        '[consumers.crm]\nplugin = "http"\nevents_url = "http://crm.test/events"\n'
    )
    settings = Settings.from_env(
        {
            "PAYMENTS_PLUGINS_FILE": str(path),
            "PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL": "http://funnel.test/api/internal/payments/events",
        }
    )
    registry = load_registry(settings, build_plugin_manager())
    funnel, crm = registry.consumers["funnel"], registry.consumers["crm"]
    assert isinstance(funnel, FunnelConsumer)
    assert (funnel.plugin_name, crm.plugin_name) == ("funnel", "http")
    assert funnel.configured
    assert crm.configured


async def test_deliver_reports_refusals_instead_of_raising() -> None:
    async with ConsumerServer() as server:
        url = server.url
    async with aiohttp.ClientSession() as http:
        outcome = await consumer(events_url=url).deliver(EVENT, http, 2)
    assert outcome.status_code is None
    assert outcome.error is not None
    assert not outcome.succeeded


async def test_deliver_keeps_only_the_start_of_a_long_answer() -> None:
    async with (
        ConsumerServer(default=Respond(500, body="x" * 50_000)) as server,
        aiohttp.ClientSession() as http,
    ):
        outcome = await consumer(events_url=server.url).deliver(EVENT, http, 2)
    assert outcome.status_code == 500
    assert outcome.response_body == "x" * RESPONSE_BODY_LIMIT


async def test_unconfigured_consumer_says_so() -> None:
    async with aiohttp.ClientSession() as http:
        outcome = await consumer().deliver(EVENT, http, 1)
    assert outcome.error == "consumer 'crm' has no events URL configured"
