"""The service's settings, read once from the environment (names fixed by the contract).

Every setting is validated here so that a bad value stops startup with one clear line
instead of surfacing later as a 500.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConfigurationError
from core.logs import log_format, log_level

DEFAULT_DATABASE_URL = "sqlite://./data/payments.sqlite3"

# About three days in all: 1m, 5m, 15m, 1h, 3h, 6h, 12h, 24h, 24h (~70h41m).
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (60, 300, 900, 3600, 10800, 21600, 43200, 86400, 86400)
# A provider read (core/ingest/provider_reads.py): five attempts over about 40 minutes.
DEFAULT_PROVIDER_READ_SCHEDULE: tuple[float, ...] = (10, 60, 300, 1800)


ENVIRONMENTS = ("development", "production", "test")
"""Every value `PAYMENTS_ENV` may take, exactly (lowercase)."""
DEVELOPMENT_TOKEN = "dev-internal-token"
"""The token `make run` exports when none is set (Makefile): never good enough for production."""
MIN_PRODUCTION_TOKEN = 32
"""The shortest internal token production accepts."""
WORKER_METRICS_PORT_UNSET = 0

MAX_TTL_HOURS = 876_000
"""About a hundred years: beyond it a date computed from the TTL would overflow."""


@dataclass(frozen=True)
class Settings:
    """What the service needs to run; build it with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    internal_token: str = ""
    port: int = 3700
    host: str = "0.0.0.0"
    plugins_file: str = "plugins.toml"
    environment: str = "development"
    delivery_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    delivery_timeout: float = 10.0
    delivery_lease: float = 60.0
    """Seconds a worker owns a claimed delivery; longer than one attempt can take."""
    delivery_batch_size: int = 50
    delivery_concurrency: int = 20
    delivery_consumer_concurrency: int | None = None
    """Most attempts in flight to one consumer; None: all slots for one consumer, else half."""
    delivery_poll_interval: float = 1.0
    delivery_jitter: float = 0.1
    """Each retry delay is scaled by a random factor in [1 - jitter, 1 + jitter]."""
    delivery_breaker_threshold: int = 5
    delivery_breaker_cooldown: float = 30.0
    provider_read_retry_schedule: tuple[float, ...] = DEFAULT_PROVIDER_READ_SCHEDULE
    """Seconds between attempts of a provider read; after the last, it is failed."""
    embedded_dispatcher: bool = True
    """Whether `payments serve` runs the delivery dispatcher in its own process."""
    past_due_grace_days: int = 0
    deferred_ttl_hours: float = 72.0
    """How long an event about an unknown tenant waits (from its receipt) before it becomes
    `unmatched`: kept, never again tried on its own (`core.ingest.deferred`)."""
    plan_status_cache: bool = True
    """Whether `payments serve` caches plan status (PostgreSQL only; see core/billing/plan_cache.py)."""
    reconcile_interval: float = 3600.0
    """Seconds between two sweeps for lapsed subscriptions and overdue checkouts
    (`core.reconcile.sweep`)."""
    reconcile_concurrency: int = 4
    """Provider reads a reconcile run keeps in flight at once."""
    log_format: str = "text"
    """`json` (one object per line) or `text` (`core.logs`); json by default in production."""
    log_level: str = "INFO"
    worker_metrics_port: int | None = None
    """Where `payments worker` serves its own `/metrics`; None: nowhere."""
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def require_internal_token(self) -> str:
        """The token that guards /internal routes; serving without one is refused."""
        if not self.internal_token:
            raise ConfigurationError(
                "PAYMENTS_INTERNAL_TOKEN is not set: every /internal route needs it "
                "(make run sets a development token)"
            )
        return self.internal_token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; raise `ConfigurationError` naming the bad one."""
        env = dict(os.environ if environ is None else environ)
        token = env.get("PAYMENTS_INTERNAL_TOKEN", "")
        environment = _environment(env)
        if environment == "production":
            _check_production_token(token)
        return cls(
            database_url=env.get("PAYMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            internal_token=token,
            port=_int(env, "PORT", 3700, minimum=1),
            host=env.get("PAYMENTS_HOST") or "0.0.0.0",
            plugins_file=env.get("PAYMENTS_PLUGINS_FILE") or "plugins.toml",
            environment=environment,
            delivery_retry_schedule=_schedule(env.get("PAYMENTS_DELIVERY_RETRY_SCHEDULE")),
            delivery_timeout=_float(env, "PAYMENTS_DELIVERY_TIMEOUT", 10.0),
            delivery_lease=_lease(env),
            delivery_batch_size=_int(env, "PAYMENTS_DELIVERY_BATCH_SIZE", 50, minimum=1),
            delivery_concurrency=_int(env, "PAYMENTS_DELIVERY_CONCURRENCY", 20, minimum=1),
            delivery_consumer_concurrency=_int(
                env, "PAYMENTS_DELIVERY_CONSUMER_CONCURRENCY", 0, minimum=1
            )
            or None,
            delivery_poll_interval=_float(env, "PAYMENTS_DELIVERY_POLL_INTERVAL", 1.0),
            delivery_jitter=_fraction(env, "PAYMENTS_DELIVERY_JITTER", 0.1),
            delivery_breaker_threshold=_int(
                env, "PAYMENTS_DELIVERY_BREAKER_THRESHOLD", 5, minimum=1
            ),
            delivery_breaker_cooldown=_float(env, "PAYMENTS_DELIVERY_BREAKER_COOLDOWN", 30.0),
            provider_read_retry_schedule=_schedule(
                env.get("PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE"),
                "PAYMENTS_PROVIDER_READ_RETRY_SCHEDULE",
                DEFAULT_PROVIDER_READ_SCHEDULE,
            ),
            embedded_dispatcher=_bool(env, "PAYMENTS_EMBEDDED_DISPATCHER", True),
            past_due_grace_days=_int(env, "PAYMENTS_PAST_DUE_GRACE_DAYS", 0, minimum=0),
            deferred_ttl_hours=_hours(env, "PAYMENTS_DEFERRED_TTL_HOURS", 72.0),
            plan_status_cache=_bool(env, "PAYMENTS_PLAN_STATUS_CACHE", True),
            reconcile_interval=_float(env, "PAYMENTS_RECONCILE_INTERVAL", 3600.0),
            reconcile_concurrency=_int(env, "PAYMENTS_RECONCILE_CONCURRENCY", 4, minimum=1),
            log_format=log_format(env),
            log_level=log_level(env),
            worker_metrics_port=_int(
                env, "PAYMENTS_WORKER_METRICS_PORT", WORKER_METRICS_PORT_UNSET, minimum=1
            )
            or None,
            env=env,
        )


def _environment(env: Mapping[str, str]) -> str:
    """`PAYMENTS_ENV`, exactly one of `ENVIRONMENTS`; unset or empty: development."""
    raw = env.get("PAYMENTS_ENV")
    if raw is None or raw == "":
        return "development"
    if raw not in ENVIRONMENTS:
        raise ConfigurationError(
            f"PAYMENTS_ENV must be one of {', '.join(ENVIRONMENTS)} (exactly, lowercase), "
            f"got {raw!r}"
        )
    return raw


def _check_production_token(token: str) -> None:
    """Production refuses a guessable internal token (an unset one is refused by
    `Settings.require_internal_token` where a token is needed)."""
    if not token:
        return
    if token == DEVELOPMENT_TOKEN:
        raise ConfigurationError(
            "PAYMENTS_INTERNAL_TOKEN is the development token (make run's): "
            "PAYMENTS_ENV=production needs a secret one"
        )
    if len(token) < MIN_PRODUCTION_TOKEN:
        raise ConfigurationError(
            f"PAYMENTS_INTERNAL_TOKEN is {len(token)} characters long: PAYMENTS_ENV=production "
            f"needs at least {MIN_PRODUCTION_TOKEN}"
        )


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def _hours(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite decimal number of hours (`0.5` is half an hour)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of hours, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of hours, got {raw!r}")
    if value > MAX_TTL_HOURS:
        raise ConfigurationError(
            f"{name} must be at most {MAX_TTL_HOURS} hours (about 100 years), got {raw!r}"
        )
    return value


def _schedule(
    raw: str | None,
    name: str = "PAYMENTS_DELIVERY_RETRY_SCHEDULE",
    default: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE,
) -> tuple[float, ...]:
    if raw is None or raw.strip() == "":
        return default
    try:
        steps = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be comma-separated seconds, got {raw!r}") from None
    if not steps or any(step < 0 for step in steps):
        raise ConfigurationError(f"{name} needs one or more non-negative numbers, got {raw!r}")
    return steps


def _lease(env: Mapping[str, str]) -> float:
    """The delivery lease must outlast one attempt, or a slow attempt would be sent twice."""
    timeout = _float(env, "PAYMENTS_DELIVERY_TIMEOUT", 10.0)
    lease = _float(env, "PAYMENTS_DELIVERY_LEASE", max(60.0, timeout + 30.0))
    if lease <= timeout + 1:
        raise ConfigurationError(
            f"PAYMENTS_DELIVERY_LEASE ({lease:g}s) must be more than a second longer than "
            f"PAYMENTS_DELIVERY_TIMEOUT ({timeout:g}s)"
        )
    return lease


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number from 0 to 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{name} must be a number from 0 to 1, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
