"""Hand-written SQL for the few reads on hot paths, where building a query through the ORM
costs more Python than the database spends answering it.

Statements are written with PostgreSQL's `$1, $2, ...` placeholders, in order, each used
once; for SQLite they become `?`.

`fetch` runs a statement inside a PostgreSQL transaction on the driver's connection itself.
Tortoise's `execute_query` costs a lock, a log call and an upper-cased copy of the statement
on every call, as much Python as asyncpg spends sending it; a webhook runs about ten of
them. The driver's errors are translated as Tortoise translates them, so callers (the
ingest's retry on a unique key, the 503 for a lost database) see the same exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

_PLACEHOLDER = re.compile(r"\$\d+")
_SQLITE_FORMS: dict[str, str] = {}


def for_dialect(connection: BaseDBAsyncClient, statement: str) -> str:
    if connection.capabilities.dialect == "postgres":
        return statement
    found = _SQLITE_FORMS.get(statement)
    if found is None:
        found = _SQLITE_FORMS[statement] = _PLACEHOLDER.sub("?", statement)
    return found


async def fetch(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> Sequence[Any]:
    """The rows of a statement already in the connection's dialect (none for a write).

    Inside a PostgreSQL transaction, straight on asyncpg's connection (see the module
    docstring); anywhere else through Tortoise.
    """
    if not isinstance(connection, TransactionWrapper) or connection._finalized:
        _, found = await connection.execute_query(statement, values)
        return found
    try:
        rows: list[asyncpg.Record] = await connection._connection.fetch(statement, *values)
        return rows
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as error:
        raise OperationalError(error) from error
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(error) from error
    except asyncpg.InvalidTransactionStateError as error:
        raise TransactionManagementError(error) from error


async def exists(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> bool:
    """Whether the SELECT returns a row (write it with LIMIT 1)."""
    return bool(await fetch(connection, for_dialect(connection, statement), values))


async def scalar(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> Any:
    """The first column of the first row, or None."""
    rows = await fetch(connection, for_dialect(connection, statement), values)
    if not rows:
        return None
    row = rows[0]
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))
