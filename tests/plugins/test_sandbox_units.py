"""The sandbox plugin's parts that need no database: signatures, event parsing, money,
billing periods, settings, and its refusal to run in production."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sandbox_provider import events, money, objects, signing
from sandbox_provider.provider import SandboxProvider
from sandbox_provider.settings import DEVELOPMENT_WEBHOOK_SECRET, SandboxSettings

from core.config import Settings
from core.errors import ApiError, ConfigurationError, WebhookSignatureInvalid
from core.facts import CheckoutSessionFact, InvoiceFact, PaymentFact, SubscriptionFact
from core.plugins import build_plugin_manager, load_registry

BODY = b'{"id":"evt_sbx_1","type":"invoice.paid"}'


def headers(value: str) -> dict[str, str]:
    return {signing.SIGNATURE_HEADER: value}


def test_a_signed_body_verifies_under_any_configured_secret() -> None:
    signing.verify(BODY, headers(signing.sign(BODY, "old")), ["new", "old"], 300)
    signing.verify(BODY, {"sandbox-signature": signing.sign(BODY, "new")}, ["new"], 300)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ({}, "missing"),
        (headers(signing.sign(BODY, "other")), "does not match"),
        (headers(signing.sign(BODY + b" ", "s")), "does not match"),
        (headers(signing.sign(BODY, "s", int(time.time()) - 301)), "older than the 300s"),
        (headers(signing.sign(BODY, "s", int(time.time()) + 3600)), "in the future"),
        (headers(signing.sign(BODY, "s", 10**30)), "in the future"),
        (headers("t=now,v1=abc"), "malformed"),
        (headers("v1=abc"), "malformed"),
        (headers(f"t={int(time.time())}"), "malformed"),
    ],
)
def test_a_bad_signature_is_refused(given: dict[str, str], why: str) -> None:
    with pytest.raises(WebhookSignatureInvalid, match=why):
        signing.verify(BODY, given, ["s"], 300)


def _event(event_type: str, obj: Mapping[str, Any]) -> bytes:
    return orjson.dumps(events.event("evt_sbx_1", event_type, obj, 1_700_000_000.123))


META = {"consumerKey": "funnel", "consumerTenantId": "t1", "pricingItemCode": "starter"}


def test_events_parse_into_the_hosts_facts() -> None:
    sub = {
        "id": "sub_sbx_1",
        "status": "active",
        "customer": "cus_sbx_1",
        "current_period_start": 1_700_000_000,
        "current_period_end": 1_702_592_000,
        "price": "price_sbx_1",
        "metadata": META,
        "clock": 5,
    }
    parsed = events.parse(_event(events.SUBSCRIPTION_CREATED, sub))
    assert parsed.provider_event_id == "evt_sbx_1"
    assert parsed.created_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    [fact] = parsed.facts
    assert isinstance(fact, SubscriptionFact)
    assert (fact.status, fact.provider_price_id, dict(fact.metadata)) == (
        "active",
        "price_sbx_1",
        META,
    )
    [deleted] = events.parse(_event(events.SUBSCRIPTION_DELETED, sub)).facts
    assert isinstance(deleted, SubscriptionFact) and deleted.status == "canceled"

    invoice = {"id": "in_sbx_1", "subscription": "sub_sbx_1", "period_end": 1_702_592_000}
    [paid] = events.parse(_event(events.INVOICE_PAID, invoice)).facts
    [failed] = events.parse(_event(events.INVOICE_PAYMENT_FAILED, invoice)).facts
    assert isinstance(paid, InvoiceFact) and isinstance(failed, InvoiceFact)
    assert (paid.paid, failed.paid) == (True, False)

    session = {"id": "cs_sbx_1", "mode": "payment", "status": "complete", "metadata": META}
    [completed] = events.parse(_event(events.CHECKOUT_COMPLETED, session)).facts
    assert isinstance(completed, CheckoutSessionFact) and completed.status == "complete"

    intent = {"id": "pi_sbx_1", "status": "requires_payment_method", "checkout_session": "cs"}
    [payment] = events.parse(_event(events.PAYMENT_FAILED, intent)).facts
    assert isinstance(payment, PaymentFact) and payment.status == "failed"

    assert events.parse(_event("customer.created", {"id": "cus_sbx_1"})).facts == ()


def test_an_event_snapshot_leaves_out_bookkeeping() -> None:
    body = events.event("evt_sbx_1", events.SUBSCRIPTION_UPDATED, {"id": "s", "clock": 9}, 1.0)
    assert body["data"]["object"] == {"id": "s"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"type":"invoice.paid"}', "no id or type"),
        (b'{"id":"evt","type":"invoice.paid","data":{}}', "without data.object"),
        (
            b'{"id":"evt","type":"customer.subscription.updated","data":{"object":{"id":"s",'
            b'"current_period_end":"soon"}}}',
            "malformed",
        ),
    ],
)
def test_a_body_that_is_not_a_sandbox_event_is_400(body: bytes, why: str) -> None:
    with pytest.raises(ApiError, match=why) as raised:
        events.parse(body)
    assert raised.value.code == "webhook_payload_invalid"


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1900, "eur", "€19.00"),
        (123456, "usd", "$1,234.56"),
        (500, "jpy", "¥500"),
        (1500, "kwd", "1.500 KWD"),
        (999, "sek", "9.99 SEK"),
    ],
)
def test_amounts_use_the_currencys_decimals(minor: int, currency: str, shown: str) -> None:
    assert money.amount(minor, currency) == shown


def test_intervals_read_as_a_buyer_reads_them() -> None:
    assert money.interval({"interval": "month", "interval_count": 1}) == "per month"
    assert money.interval({"interval": "week", "interval_count": 2}) == "every 2 weeks"
    assert money.interval({"interval": None}) == "one-time payment"


def test_a_monthly_period_keeps_the_day_or_the_months_end() -> None:
    jan31 = datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert objects.add_interval(jan31, "month", 1) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert objects.add_interval(jan31, "month", 3) == datetime(2027, 4, 30, 12, tzinfo=UTC)
    assert objects.add_interval(jan31, "year", 1) == datetime(2028, 1, 31, 12, tzinfo=UTC)
    assert objects.add_interval(jan31, "week", 2) == datetime(2027, 2, 14, 12, tzinfo=UTC)
    assert objects.add_interval(jan31, "day", 1) == datetime(2027, 2, 1, 12, tzinfo=UTC)


def test_settings_defaults_and_checks() -> None:
    settings = SandboxSettings.model_validate({"webhook_secret": "new, old"})
    assert settings.webhook_secret == ["new", "old"]
    assert SandboxSettings().webhook_secret == [DEVELOPMENT_WEBHOOK_SECRET]
    assert SandboxSettings(public_url="http://x:1/").public_url == "http://x:1"
    with pytest.raises(ValueError, match="http"):
        SandboxSettings(public_url="localhost:3700")
    with pytest.raises(ValueError, match="at least one"):
        SandboxSettings.model_validate({"webhook_secret": " , "})


def test_the_public_url_defaults_to_this_services_port() -> None:
    provider = SandboxProvider.build("sandbox", SandboxSettings(), Settings(port=4123))
    assert provider.checkout_url("cs_sbx_1") == "http://localhost:4123/sandbox/checkout/cs_sbx_1"
    assert provider.sender.target.url == "http://localhost:4123/webhooks/sandbox"


def test_it_refuses_to_be_built_in_production(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins.toml"
    plugins.write_text('[providers.sandbox]\nplugin = "sandbox"\n')
    env = {"PAYMENTS_PLUGINS_FILE": str(plugins), "PAYMENTS_ENV": "production"}
    with pytest.raises(ConfigurationError, match="refuses to run with PAYMENTS_ENV=production"):
        load_registry(Settings.from_env(env), build_plugin_manager())

    plugins.write_text('[providers.sandbox]\nplugin = "sandbox"\nenabled = false\n')
    assert load_registry(Settings.from_env(env), build_plugin_manager()).providers == {}
