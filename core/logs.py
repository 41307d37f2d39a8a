"""Logs: the stdlib `logging`, one JSON object per line in production, readable lines in development.

Every part of the service logs through `logging.getLogger(...)` as before; `configure_logging`
(called once by the `payments` command) puts one handler on the root logger whose formatter
writes either one JSON object per line (`PAYMENTS_LOG_FORMAT=json`, the default under
`PAYMENTS_ENV=production`) or one readable line (`text`). Hypercorn's error log is a logger
like any other, so it goes the same way; its access log is off (`web.server`), replaced by
the service's own line per request (`web.request_log`).

The request id of the request being served lives in a context variable (`request_id`), set
by the request middleware; every record logged while it is set (the request's webhook
ingest, anything a route calls, tasks it starts) carries it.

What a record carries besides its message is passed as `extra={...}` and becomes top-level
fields of the JSON object (or `key=value` pairs after a text line).

Secrets are never logged on purpose: no code passes a token, secret, signature header or
card number to a logger. As a safety net, every formatted field is scrubbed of the secret
values this process knows (`register_secret`: the internal token, plugin secrets, the
database password) and of anything shaped like a Stripe key, a webhook signing secret, a
`Stripe-Signature` or Standard Webhooks signature, or a card number.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import IO, Any

import orjson

from core.errors import ConfigurationError

FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

request_id: ContextVar[str | None] = ContextVar("payments_request_id", default=None)
"""The id of the request being served (None outside a request)."""

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: redacting every `tok` would garble unrelated lines."""

_QUIET_LOGGERS = {
    "tortoise.db_client": logging.INFO,  # DEBUG prints every statement with its values
    "aiosqlite": logging.INFO,
    "stripe": logging.WARNING,  # INFO/DEBUG print every request, DEBUG with its parameters
    "asyncio": logging.INFO,
}
"""Third-party loggers kept above DEBUG whatever PAYMENTS_LOG_LEVEL says: at DEBUG they write
payloads (SQL parameters, Stripe request bodies) that may hold customer or card data."""

_KEYS = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+")  # Stripe secret, restricted keys
_WHSEC = re.compile(
    r"\bwhsec_[A-Za-z0-9+/=]+"
)  # webhook signing secrets (Stripe, Standard Webhooks)
_STRIPE_SIGNATURE = re.compile(r"\bt=\d+(?:,v\d=[0-9a-fA-F]+)+")
_STANDARD_SIGNATURE = re.compile(r"\bv1[,=][A-Za-z0-9+/]{20,}={0,2}")
_CARD = re.compile(r"(?<![\d.])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7})(?![\d.])")
"""Maybe a card number: 13-19 digits, or groups of four (Luhn-checked before redacting)."""
_SHAPES = (
    ("sk_", _KEYS),
    ("rk_", _KEYS),
    ("whsec_", _WHSEC),
    ("t=", _STRIPE_SIGNATURE),
    ("v1", _STANDARD_SIGNATURE),
)
"""Each shape with a substring it cannot match without, so most strings skip the regex."""

_RESERVED = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "taskName",
    }
)
"""Attributes every record has; anything else on a record came in through `extra`."""


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


class Redactor:
    """Removes secret values and secret-shaped text from strings."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)

    @staticmethod
    def _card(match: re.Match[str]) -> str:
        text = match.group(0)
        return REDACTED if _luhn(text.replace(" ", "").replace("-", "")) else text

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for needed, shape in _SHAPES:
            if needed in text:
                text = shape.sub(REDACTED, text)
        if len(text) >= 13:
            text = _CARD.sub(self._card, text)
        return text


redactor = Redactor()


def register_secret(value: str | None) -> None:
    """A value no log line may show (a token, a secret); shorter than 8 characters is ignored."""
    redactor.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        redactor.add(value)


_SECRET_NAME = re.compile(r"secret|token|password|passwd|api_key|private_key", re.IGNORECASE)


def secret_setting(name: str) -> bool:
    """Whether a setting's name says its value is a secret (`secret_key`, `webhook_secrets`,
    `signing_secret`, `token`, ...)."""
    return _SECRET_NAME.search(name) is not None


def register_setting_secrets(settings: Mapping[str, Any]) -> None:
    """Register the values of a plugin's settings whose names say they are secret (a
    comma-separated or list value registers each part)."""
    for name, value in settings.items():
        if not secret_setting(name):
            continue
        parts = value if isinstance(value, list) else str(value).split(",")
        register_secrets(str(part).strip() for part in parts)


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Register the environment's secrets: every variable whose name says it is one
    (PAYMENTS_INTERNAL_TOKEN, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, the consumers' signing
    secrets, ...) and the password in PAYMENTS_DATABASE_URL."""
    register_setting_secrets({name: value for name, value in env.items() if value})
    url = env.get("PAYMENTS_DATABASE_URL") or ""
    credentials = url.partition("://")[2].rpartition("@")[0]
    if credentials:
        register_secret(credentials.partition(":")[2])


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if value is None or isinstance(value, int | float):
        return value
    return redactor(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `ts`, `level`, `logger`, `message`,
    `request_id` (in a request), the record's `extra` fields, `exc_info` (the traceback,
    one string). Every string is redacted (`Redactor`); numbers need not be."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redactor(record.getMessage()),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = redactor(current)
        for name, value in record.__dict__.items():
            if name not in _RESERVED:
                line[name] = _scrub(value)
        if record.exc_info:
            line["exc_info"] = redactor(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc_info"] = redactor(record.exc_text)
        if record.stack_info:
            line["stack_info"] = redactor(record.stack_info)
        return orjson.dumps(line).decode()


_IN_TEXT_MESSAGE = {"request": frozenset({"event", "method", "route", "status"})}
"""Fields a text line leaves out because its message already shows them, by `event`."""


class TextFormatter(logging.Formatter):
    """`2026-12-03 08:19:20.123 INFO platform_payments.http: GET /health 200 1.2ms` then the
    record's fields as `key=value` (the request id among them); a traceback follows on its own
    lines."""

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        text = (
            f"{stamp}.{int((created % 1) * 1000):03d} {record.levelname} {record.name}: "
            f"{record.getMessage()}"
        )
        fields = _fields(record)
        current = request_id.get()
        if current is not None:
            fields.setdefault("request_id", current)
        hidden = _IN_TEXT_MESSAGE.get(str(fields.get("event")), frozenset({"event"}))
        shown = [
            f"{name}={value}"
            for name, value in fields.items()
            if value is not None and name not in hidden
        ]
        if shown:
            text += " " + " ".join(shown)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        return redactor(text)


def log_format(env: Mapping[str, str]) -> str:
    """PAYMENTS_LOG_FORMAT: `json` or `text`; unset, `json` under PAYMENTS_ENV=production."""
    raw = (env.get("PAYMENTS_LOG_FORMAT") or "").strip().lower()
    if raw == "":
        return "json" if env.get("PAYMENTS_ENV") == "production" else "text"
    if raw not in FORMATS:
        raise ConfigurationError(
            f"PAYMENTS_LOG_FORMAT must be json or text, got {env['PAYMENTS_LOG_FORMAT']!r}"
        )
    return raw


def log_level(env: Mapping[str, str]) -> str:
    """PAYMENTS_LOG_LEVEL: DEBUG, INFO (the default), WARNING, ERROR or CRITICAL, any case."""
    raw = (env.get("PAYMENTS_LOG_LEVEL") or "").strip().upper()
    if raw == "":
        return "INFO"
    if raw not in LEVELS:
        raise ConfigurationError(
            f"PAYMENTS_LOG_LEVEL must be one of {', '.join(LEVELS)}, "
            f"got {env['PAYMENTS_LOG_LEVEL']!r}"
        )
    return raw


_installed: list[logging.Handler] = []
_format: list[str] = []


def configured_format() -> str | None:
    """The format `configure_logging` set for this process, None before it ran."""
    return _format[0] if _format else None


def configure_logging(
    fmt: str, level: str = "INFO", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record of this process to `stream` (stderr) in `fmt`, at `level` and above.

    Replaces the handler an earlier call installed (and nothing else on the root logger);
    warnings go through logging too, and in json mode so does an uncaught exception's
    traceback, so that every line the process writes is a JSON object.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"PAYMENTS_LOG_FORMAT must be json or text, got {fmt!r}")
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
    _installed.clear()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    _installed.append(handler)
    _format[:] = [fmt]
    root.setLevel(level)
    # No format shows them, and each costs a lookup in every record made.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level)))
    logging.captureWarnings(True)
    if fmt == "json":
        sys.excepthook = _log_uncaught
    return handler


def unconfigure_logging() -> None:
    """Remove the handler `configure_logging` installed (tests)."""
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
    _installed.clear()
    _format.clear()
    logging.captureWarnings(False)
    sys.excepthook = sys.__excepthook__


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("platform_payments").critical(
        "uncaught exception", exc_info=(kind, error, traceback)
    )
