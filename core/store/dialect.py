"""The one answer to "is this PostgreSQL?", and the one placeholder scheme of every statement.

Every statement in the code is written once, with PostgreSQL's `$1, $2, ...` placeholders;
`for_dialect` gives SQLite's form, cached: `?1, ?2, ...`, SQLite's numbered parameters, which
mean what `$n` means to PostgreSQL (a value may be named twice; the values are passed once, in
number order). Where PostgreSQL needs a
statement of its own (`FOR UPDATE SKIP LOCKED`, a count through `RETURNING`), the subdomain's
queries module writes both as a `PerDialect` and the caller takes `.of(connection)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

_PLACEHOLDER = re.compile(r"\$\d+")
_SQLITE_FORMS: dict[str, str] = {}


def is_postgres(connection: BaseDBAsyncClient) -> bool:
    """Whether the connection talks to PostgreSQL (else SQLite, the only other database)."""
    return connection.capabilities.dialect == "postgres"


def for_dialect(connection: BaseDBAsyncClient, statement: str) -> str:
    """The statement in the connection's placeholder form."""
    if is_postgres(connection):
        return statement
    found = _SQLITE_FORMS.get(statement)
    if found is None:
        found = _SQLITE_FORMS[statement] = _PLACEHOLDER.sub(_numbered, statement)
    return found


def _numbered(placeholder: re.Match[str]) -> str:
    return f"?{placeholder.group()[1:]}"


@dataclass(frozen=True)
class PerDialect:
    """A statement that PostgreSQL and SQLite need written apart (both with `$n` placeholders)."""

    postgres: str
    sqlite: str

    def of(self, connection: BaseDBAsyncClient) -> str:
        """The form for this connection, placeholders included."""
        if is_postgres(connection):
            return self.postgres
        return for_dialect(connection, self.sqlite)
