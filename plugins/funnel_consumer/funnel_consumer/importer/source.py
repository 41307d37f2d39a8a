"""Reading the legacy FunnelAI billing tables, tenant batch by tenant batch.

The source is a PostgreSQL database (read through asyncpg, in a read-only session) or
an SQLite file (through aiosqlite, opened read-only). Tenants are visited in
`tenant_id` order with a keyset (`tenant_id > cursor ... LIMIT n`), and only one batch
of tenants' rows is ever held in memory, so a source of any size streams through.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import asyncpg

from core.errors import ConfigurationError

Row = dict[str, Any]

CUSTOMERS = "billing_customers"
SUBSCRIPTIONS = "billing_subscriptions"
PAYMENTS = "billing_payments"
TABLES = (CUSTOMERS, SUBSCRIPTIONS, PAYMENTS)

COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: ("tenant_id", "tenant_name", "legal_name", "billing_email", "stripe_customer_id"),
    SUBSCRIPTIONS: (
        "id",
        "tenant_id",
        "stripe_subscription_id",
        "stripe_customer_id",
        "plan_code",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "canceled_at",
        "created_at",
    ),
    PAYMENTS: (
        "id",
        "tenant_id",
        "stripe_payment_intent_id",
        "stripe_checkout_session_id",
        "plan_code",
        "amount",
        "currency",
        "status",
        "paid_at",
        "created_at",
    ),
}
ORDER: dict[str, str] = {
    CUSTOMERS: "tenant_id, stripe_customer_id",
    SUBSCRIPTIONS: "tenant_id, id",
    PAYMENTS: "tenant_id, id",
}
ORPHAN_LIMIT = 10_000
"""At most this many rows without a tenant id are listed per table (each is reported)."""


def fingerprint(url: str) -> str:
    """Who the source is, without its password: the key of the import's progress row."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        where = str(Path(url.split("://", 1)[1].split("?", 1)[0]).resolve())
        text = f"sqlite://{where}"
    else:
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        text = f"postgres://{user}{parts.hostname or ''}{port}{parts.path}"
    if len(text) <= 128:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class LegacySource(ABC):
    """The three legacy tables of one database, read in tenant-id order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fingerprint = fingerprint(url)

    @abstractmethod
    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run one query with `?` placeholders and return its rows as dicts."""

    @abstractmethod
    async def close(self) -> None: ...

    async def check_tables(self) -> None:
        """Fail fast, with one line, when a table or column of the contract is missing."""
        for table, columns in COLUMNS.items():
            try:
                await self._fetch(f"SELECT {', '.join(columns)} FROM {table} WHERE 1 = 0")
            except Exception as error:
                raise ConfigurationError(
                    f"source has no usable table {table}({', '.join(columns)}): {error}"
                ) from None

    async def tenant_ids(self, after: str, limit: int) -> list[str]:
        """The next `limit` tenant ids after `after`, from all three tables, in order."""
        union = " UNION ".join(
            f"SELECT tenant_id FROM {table} WHERE tenant_id > ?" for table in TABLES
        )
        rows = await self._fetch(
            f"SELECT tenant_id FROM ({union}) AS tenants ORDER BY tenant_id LIMIT ?",
            after,
            after,
            after,
            limit,
        )
        return [str(row["tenant_id"]) for row in rows]

    async def rows(self, table: str, after: str, last: str) -> list[Row]:
        """Every row of `table` whose tenant id is in (after, last], ordered by tenant."""
        return await self._fetch(
            f"SELECT {', '.join(COLUMNS[table])} FROM {table} "
            f"WHERE tenant_id > ? AND tenant_id <= ? ORDER BY {ORDER[table]}",
            after,
            last,
        )

    async def rows_without_tenant(self, table: str) -> list[Row]:
        """Rows that name no tenant: never imported, each reported."""
        return await self._fetch(
            f"SELECT {', '.join(COLUMNS[table])} FROM {table} "
            f"WHERE tenant_id IS NULL OR tenant_id = '' LIMIT {ORPHAN_LIMIT}"
        )

    async def count_rows(self, after: str) -> int:
        """Rows of tenants after `after` (all three tables), for the progress bar."""
        total = 0
        for table in TABLES:
            rows = await self._fetch(
                f"SELECT COUNT(*) AS n FROM {table} WHERE tenant_id > ?", after
            )
            total += int(rows[0]["n"])
        return total


class PostgresSource(LegacySource):
    def __init__(self, url: str, connection: Any) -> None:
        super().__init__(url)
        self._connection = connection

    @classmethod
    async def open(cls, url: str) -> PostgresSource:
        try:
            connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
            await connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except Exception as error:
            raise ConfigurationError(
                f"cannot open the source database {fingerprint(url)}: {error}"
            ) from None
        return cls(url, connection)

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        numbered = _numbered(sql)
        return [dict(record) for record in await self._connection.fetch(numbered, *args)]

    async def close(self) -> None:
        await self._connection.close()


class SqliteSource(LegacySource):
    def __init__(self, url: str, connection: aiosqlite.Connection) -> None:
        super().__init__(url)
        self._connection = connection

    @classmethod
    async def open(cls, url: str) -> SqliteSource:
        path = _sqlite_path(url)
        try:
            connection = await aiosqlite.connect(f"{path.as_uri()}?mode=ro", uri=True)
        except Exception as error:
            raise ConfigurationError(
                f"cannot open the source SQLite file {path}: {error}"
            ) from None
        connection.row_factory = aiosqlite.Row
        return cls(url, connection)

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._connection.execute(sql, args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]

    async def close(self) -> None:
        await self._connection.close()


def _sqlite_path(url: str) -> Path:
    """The absolute path of an existing SQLite file (opening it read-only never creates it)."""
    path = Path(url.split("://", 1)[1].split("?", 1)[0])
    if not path.is_file():
        raise ConfigurationError(f"source SQLite file not found: {path}")
    return path.resolve()


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (the queries hold no literal `?`)."""
    parts = sql.split("?")
    out = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        out.append(f"${number}{part}")
    return "".join(out)


async def open_source(url: str) -> LegacySource:
    """The source for a `postgres://`/`postgresql://` or `sqlite://PATH` URL, checked."""
    scheme = urlsplit(url).scheme
    source: LegacySource
    if scheme in {"postgres", "postgresql"}:
        source = await PostgresSource.open(url)
    elif scheme == "sqlite":
        source = await SqliteSource.open(url)
    else:
        raise ConfigurationError(
            f"--source must be a postgres:// or sqlite:// URL, got scheme '{scheme or url}'"
        )
    try:
        await source.check_tables()
    except BaseException:
        await source.close()
        raise
    return source
