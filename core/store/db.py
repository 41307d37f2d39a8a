"""The database: Tortoise's configuration for a URL, connecting, migrating, and a health probe.

One committed set of Tortoise's operation-based migrations (`migrations/`) serves both
SQLite and PostgreSQL; `payments migrate` applies it.
"""

from __future__ import annotations

import contextlib
import pkgutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.recorder import MigrationRecorder

from core.errors import ConfigurationError

APP_LABEL = "models"
MODELS_MODULE = "core.models"
MIGRATIONS_MODULE = "migrations"


def normalize_url(url: str) -> str:
    """Accept the usual spellings (`postgresql://`, `sqlite:///abs`) and return Tortoise's."""
    scheme = urlsplit(url).scheme
    if scheme in {"postgresql", "postgres", "asyncpg"}:
        return "postgres://" + url.split("://", 1)[1]
    if scheme == "sqlite":
        return url
    raise ConfigurationError(
        f"PAYMENTS_DATABASE_URL must be a sqlite:// or postgres:// URL, got scheme '{scheme}'"
    )


def is_sqlite(url: str) -> bool:
    return urlsplit(url).scheme == "sqlite"


async def _keep_session(connection: Any) -> None:
    """Pool reset without a round trip.

    asyncpg's default reset sends `RESET ALL; UNLISTEN *; ...` each time a connection goes back
    to the pool: one more round trip per query. Its internal reset, which always runs first,
    already rolls back an open transaction; this service never changes session state on
    pooled connections (LISTEN has a dedicated connection), so nothing else needs undoing.
    """


CLIENTS_ENGINE = "core.store.db_clients"
"""Tortoise's clients whose transactions give their connection back when BEGIN fails."""


def _connection(url: str, serving: bool) -> dict[str, Any]:
    normalized = normalize_url(url)
    expanded = expand_db_url(normalized)
    if serving:
        expanded["engine"] = CLIENTS_ENGINE
    if not is_sqlite(normalized):
        expanded["credentials"]["reset"] = _keep_session
    return expanded


def tortoise_config(url: str, *, serving: bool = True) -> dict[str, Any]:
    """The Tortoise config dict for one database URL.

    `serving=False` keeps Tortoise's stock clients, for migrations: Tortoise's migration
    executor picks its schema editor from the client class's module name, which ours lack.
    """
    return {
        "connections": {"default": _connection(url, serving)},
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_sqlite_dir(url: str) -> None:
    if not is_sqlite(url):
        return
    path = url.split("://", 1)[1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def connect(url: str) -> None:
    """Open the connection pool; `ConfigurationError` when the database cannot be reached."""
    config = tortoise_config(url)
    _ensure_sqlite_dir(url)
    try:
        await Tortoise.init(config=config)
        await ping()
    except ConfigurationError:
        raise
    except Exception as error:
        await close()
        raise ConfigurationError(f"database unreachable ({_redacted(url)}): {error}") from None


async def close() -> None:
    """Close every connection; a no-op when none was opened."""
    # RuntimeError: Tortoise was never initialised (startup failed before connecting).
    with contextlib.suppress(RuntimeError):
        await connections.close_all(discard=True)


async def ping() -> None:
    """One round trip, for `/health`."""
    await connections.get("default").execute_query("SELECT 1")


def migration_names() -> list[str]:
    """Every migration committed in `migrations/`, by module name (`0001_initial`, ...)."""
    import migrations

    return sorted(
        info.name for info in pkgutil.iter_modules(migrations.__path__) if info.name[:4].isdigit()
    )


async def pending_migrations() -> list[str]:
    """The committed migrations the database has not applied, oldest first (all of them on
    an empty database). One query of Tortoise's own record (`tortoise_migrations`); raises
    when the database does not answer (ping first to tell the two apart)."""
    recorder = MigrationRecorder(connections.get("default"))
    applied = {
        key.name for key in await recorder.applied_migrations() if key.app_label == APP_LABEL
    }
    return [name for name in migration_names() if name not in applied]


async def migrate(url: str) -> list[str]:
    """Apply every migration not yet applied (creating the SQLite file's folder if needed);
    the names of those applied now, in order (`app.name`), empty when it was up to date."""
    config = tortoise_config(url, serving=False)
    _ensure_sqlite_dir(url)
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    try:
        await tortoise_migrate(config=config, progress=progress)
    except Exception as error:
        raise ConfigurationError(f"migration failed ({_redacted(url)}): {error}") from None
    finally:
        await close()
    return applied


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
