"""Hand-written SQL for the few reads on hot paths, where building a query through the ORM
costs more Python than the database spends answering it.

Statements are written with PostgreSQL's `$1, $2, ...` placeholders, in order, each used
once; for SQLite they become `?`.
"""

from __future__ import annotations

import re
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

_PLACEHOLDER = re.compile(r"\$\d+")
_SQLITE_FORMS: dict[str, str] = {}


def for_dialect(connection: BaseDBAsyncClient, statement: str) -> str:
    if connection.capabilities.dialect == "postgres":
        return statement
    found = _SQLITE_FORMS.get(statement)
    if found is None:
        found = _SQLITE_FORMS[statement] = _PLACEHOLDER.sub("?", statement)
    return found


async def exists(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> bool:
    """Whether the SELECT returns a row (write it with LIMIT 1)."""
    _, rows = await connection.execute_query(for_dialect(connection, statement), values)
    return bool(rows)


async def scalar(connection: BaseDBAsyncClient, statement: str, values: list[Any]) -> Any:
    """The first column of the first row, or None."""
    _, rows = await connection.execute_query(for_dialect(connection, statement), values)
    if not rows:
        return None
    row = rows[0]
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))
