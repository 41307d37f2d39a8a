"""Hand-written SQL for the few reads on hot paths, where building a query through the ORM
costs more Python than the database spends answering it.

Statements are written with PostgreSQL's `$1, $2, ...` placeholders; for SQLite they become
`?1, ?2, ...` (`core.store.dialect`).

`fetch` runs a statement inside a PostgreSQL transaction on the driver's connection itself.
Tortoise's `execute_query` costs a lock, a log call and an upper-cased copy of the statement
on every call, as much Python as asyncpg spends sending it; a webhook runs about ten of
them. The driver's errors are translated as Tortoise translates them, so callers (the
ingest's retry on a unique key, the 503 for a lost database) see the same exceptions.

`later` and `notify_later` hold back a write nobody reads the result of (a new record, the
outbox's event and delivery, a NOTIFY) until the transaction's next statement or its commit
(`core.store.db_clients` flushes before every other statement and before COMMIT, and forgets them
on rollback). On PostgreSQL the writes held back go as one statement, each a CTE of it:
a webhook that creates a record, remembers its customer and emits an event pays one round
trip for the three instead of three. Only inserts are held back (two updates of one row in
one statement would not both happen), at most one per table (the CTEs of one statement do
not see each other's rows, so a second insert of the same key would clash instead of
finding the first), and anything that reads, or updates, flushes first, so no statement
ever misses a write held back before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

from core.store.dialect import for_dialect, is_postgres

_PLACEHOLDER = re.compile(r"\$\d+")
LATER = "payments_later"
"""The attribute of a transaction (`core.store.db_clients`) that holds its writes held back."""
_NOTIFY = ""
"""The held-back item that is a NOTIFY (its values: channel, payload)."""
_COMBINED: dict[tuple[tuple[str, int], ...], str] = {}
_INSERT_INTO = re.compile(r'\s*INSERT\s+INTO\s+"?(\w+)"?', re.IGNORECASE)
_TABLES: dict[str, str] = {}


async def fetch(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> Sequence[Any]:
    """The rows of a statement already in the connection's dialect (none for a write).

    Inside a PostgreSQL transaction, straight on asyncpg's connection (see the module
    docstring), after the writes held back on it; anywhere else through Tortoise.
    """
    if not isinstance(connection, TransactionWrapper) or connection._finalized:
        _, found = await connection.execute_query(statement, values)
        return found
    if getattr(connection, LATER, None):
        await flush(connection)
    return await _driver_fetch(connection, statement, values)


async def _driver_fetch(
    connection: TransactionWrapper, statement: str, values: list[Any]
) -> Sequence[Any]:
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


async def later(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> None:
    """Run an INSERT (PostgreSQL placeholders) whose result nobody needs with the
    transaction's next statement; at once where nothing holds writes back."""
    held: list[tuple[str, list[Any]]] | None = getattr(connection, LATER, None)
    if held is None:
        await fetch(connection, for_dialect(connection, statement), values)
        return
    table = _table(statement)
    if any(_table(other) == table for other, _ in held if other != _NOTIFY):
        await flush(connection)  # one insert per table and statement (module docstring)
    held.append((statement, values))


def _table(statement: str) -> str:
    found = _TABLES.get(statement)
    if found is None:
        match = _INSERT_INTO.match(statement)
        if match is None:
            raise ValueError(f"only an INSERT can be held back: {statement[:60]!r}")
        found = _TABLES[statement] = match.group(1)
    return found


async def notify_later(connection: BaseDBAsyncClient, channel: str, payload: str) -> None:
    """NOTIFY at commit (PostgreSQL; nothing elsewhere), sent with the next statement."""
    if not is_postgres(connection):
        return
    held: list[tuple[str, list[Any]]] | None = getattr(connection, LATER, None)
    if held is None:
        await fetch(connection, "SELECT pg_notify($1, $2)", [channel, payload])
    else:
        held.append((_NOTIFY, [channel, payload]))


async def flush(connection: BaseDBAsyncClient) -> None:
    """Send the writes held back on this transaction, if any (see the module docstring)."""
    held: list[tuple[str, list[Any]]] | None = getattr(connection, LATER, None)
    if not held:
        return
    items = list(held)
    held.clear()
    if not is_postgres(connection):
        for statement, values in items:
            if statement != _NOTIFY:
                await connection.execute_query(for_dialect(connection, statement), values)
        return
    values = [value for _, item_values in items for value in item_values]
    statement = _combined(tuple((statement, len(item_values)) for statement, item_values in items))
    assert isinstance(connection, TransactionWrapper)
    await _driver_fetch(connection, statement, values)


def _shifted(offset: int, placeholder: re.Match[str]) -> str:
    return f"${int(placeholder.group()[1:]) + offset}"


def _combined(shape: tuple[tuple[str, int], ...]) -> str:
    """One statement of held-back writes: each a CTE, the NOTIFYs its SELECT list."""
    found = _COMBINED.get(shape)
    if found is not None:
        return found
    writes: list[str] = []
    notifies: list[str] = []
    offset = 0
    for statement, count in shape:
        if statement == _NOTIFY:
            notifies.append(f"pg_notify(${offset + 1}, ${offset + 2})")
        else:
            renumbered = _PLACEHOLDER.sub(partial(_shifted, offset), statement)
            writes.append(f"w{len(writes)} AS ({renumbered})")
        offset += count
    head = f"WITH {', '.join(writes)} " if writes else ""
    found = _COMBINED[shape] = f"{head}SELECT {', '.join(notifies) or '1'}"
    return found
