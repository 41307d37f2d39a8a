"""Test databases: a fresh SQLite file and a fresh PostgreSQL database per test session.

PostgreSQL is reached at PAYMENTS_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432,
trust auth, as on CI); the test database is dropped and created anew for each session.
PAYMENTS_TEST_BACKENDS=sqlite (or postgres) narrows a run to one backend.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise, connections

POSTGRES_URL = os.environ.get(
    "PAYMENTS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/payments_test"
)


def sibling_url(suffix: str) -> str:
    """A database of this session's own beside the test database (`<name>_<suffix>`), so
    two checkouts testing at once with different PAYMENTS_TEST_POSTGRES_URL never share one."""
    base, name = POSTGRES_URL.rsplit("/", 1)
    return f"{base}/{name}_{suffix}"


def backends() -> list[str]:
    chosen = os.environ.get("PAYMENTS_TEST_BACKENDS", "sqlite,postgres")
    return [name.strip() for name in chosen.split(",") if name.strip()]


def _admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    return admin, name


async def recreate_postgres_database(url: str = POSTGRES_URL) -> str:
    """Drop and create the database named in `url`; return the URL."""
    admin, name = _admin_url(url)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url


async def empty_all_tables() -> None:
    """Delete every row of every model's table (fast reset between tests)."""
    connection = connections.get("default")
    tables = [model._meta.db_table for model in Tortoise.apps["models"].values()]
    dialect = connection.capabilities.dialect
    if dialect == "postgres":
        await connection.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await connection.execute_script("PRAGMA foreign_keys = OFF")
        for table in tables:
            await connection.execute_script(f"DELETE FROM {table}")
        await connection.execute_script("PRAGMA foreign_keys = ON")
