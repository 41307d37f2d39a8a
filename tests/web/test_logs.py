"""Logs: the settings, their refusal at startup, the two formats and the redaction net."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.config import Settings
from core.errors import ConfigurationError
from core.logs import JsonFormatter, Redactor, TextFormatter, register_secret, request_id
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.logs import captured_logs
from tests.support.processes import run_payments

# --- settings ---------------------------------------------------------------------------------


def test_log_settings_default_to_text_and_info_outside_production() -> None:
    settings = Settings.from_env({})
    assert (settings.log_format, settings.log_level) == ("text", "INFO")


def test_production_logs_json_by_default_and_text_when_asked() -> None:
    assert Settings.from_env({"PAYMENTS_ENV": "production"}).log_format == "json"
    asked = Settings.from_env({"PAYMENTS_ENV": "production", "PAYMENTS_LOG_FORMAT": "TEXT"})
    assert asked.log_format == "text"
    assert Settings.from_env({"PAYMENTS_LOG_LEVEL": "debug"}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("PAYMENTS_LOG_FORMAT", "xml", "PAYMENTS_LOG_FORMAT must be json or text, got 'xml'"),
        ("PAYMENTS_LOG_FORMAT", "jsonl", "PAYMENTS_LOG_FORMAT must be json or text"),
        ("PAYMENTS_LOG_LEVEL", "verbose", "PAYMENTS_LOG_LEVEL must be one of DEBUG, INFO"),
        ("PAYMENTS_LOG_LEVEL", "10", "PAYMENTS_LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_log_setting_is_a_configuration_error(name: str, value: str, said: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(said)):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"), [("PAYMENTS_LOG_FORMAT", "xml"), ("PAYMENTS_LOG_LEVEL", "loud")]
)
def test_a_bad_log_setting_stops_the_command_with_one_line(
    clean_env: dict[str, str], tmp_path: Path, name: str, value: str
) -> None:
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": "t",
        name: value,
    }
    for command in ("serve", "worker", "migrate"):
        done = run_payments(command, env=env)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"payments: error: {name} must be"), lines


def test_a_configuration_error_is_a_json_line_when_logs_are_json(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "PAYMENTS_LOG_FORMAT": "json",
        "PAYMENTS_PLUGINS_FILE": str(tmp_path / "missing.toml"),
    }
    done = run_payments("serve", env=env)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    record = orjson.loads(line)
    assert record["level"] == "error"
    assert record["message"].startswith("payments: error: PAYMENTS_INTERNAL_TOKEN is not set")


# --- formats and redaction --------------------------------------------------------------------


def _record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord(
        "platform_payments.test", logging.INFO, __file__, 1, message, args, None
    )
    record.__dict__.update(extra)
    return record


def test_json_is_one_object_per_line_with_the_extra_fields_and_the_request_id() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failing = _record("it %s", "failed", event="x", count=3)
        failing.exc_info = sys.exc_info()
    marked = request_id.set("abc123")
    try:
        text = JsonFormatter().format(failing)
    finally:
        request_id.reset(marked)
    assert "\n" not in text
    line = orjson.loads(text)
    assert line["message"] == "it failed"
    assert (line["level"], line["logger"]) == ("info", "platform_payments.test")
    assert (line["event"], line["count"], line["request_id"]) == ("x", 3, "abc123")
    assert "ValueError: boom" in line["exc_info"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_text_is_one_readable_line() -> None:
    record = _record(
        "GET /health 200",
        event="request",
        method="GET",
        route="/health",
        status=200,
        duration_ms=1.5,
        request_id="r1",
    )
    text = TextFormatter().format(record)
    assert text.endswith(
        "INFO platform_payments.test: GET /health 200 duration_ms=1.5 request_id=r1"
    )


def test_the_redactor_removes_known_secrets_and_secret_shapes() -> None:
    redact = Redactor()
    redact.add("my-long-internal-token")
    redact.add("short")  # too short to register
    signature = se.sign(b"{}", "whsec_abc")
    text = (
        f"token my-long-internal-token key sk_live_51Habc secret whsec_abc123= sig {signature} "
        "sw v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= card 4242 4242 4242 4242 "
        "not-a-card 4242424242424241 short id 1700000000"
    )
    cleaned = redact(text)
    for secret in (
        "my-long-internal-token",
        "sk_live_51Habc",
        "whsec_abc123",
        signature,
        "K5oZfzN95Z9UVu1Es",
        "4242 4242 4242 4242",
    ):
        assert secret not in cleaned
    assert "4242424242424241" in cleaned  # fails Luhn: not a card number
    assert "1700000000" in cleaned
    assert "short" in cleaned


def test_formatters_redact_message_fields_and_tracebacks() -> None:
    register_secret("a-registered-secret-value")
    record = _record("sent %s", "a-registered-secret-value", header="sk_test_zzzz")
    for formatter in (JsonFormatter(), TextFormatter()):
        text = formatter.format(record)
        assert "a-registered-secret-value" not in text
        assert "sk_test_zzzz" not in text
        assert "[redacted]" in text


async def test_debug_level_keeps_sql_and_stripe_sdk_dumps_out(api: Api) -> None:
    with captured_logs(level="DEBUG") as logs:
        assert (await api.get("/internal/payments/pricing-items")).status == 200
    assert not [line for line in logs.lines() if line["logger"].startswith("tortoise.db_client")]
    assert logging.getLogger("stripe").getEffectiveLevel() >= logging.WARNING
