"""Tortoise's database clients, with a transaction that gives its connection back when BEGIN fails.

Tortoise 1.1's transaction contexts take their connection (a pooled asyncpg connection, or
the SQLite client's one connection behind its lock) in `__aenter__` and only give it back in
`__aexit__`. When `begin()` raises, as it does when PostgreSQL terminated the backend the
pool handed out, `__aexit__` never runs: the pooled connection is never released (and on
SQLite the client's lock is never released), and the task keeps pointing at the dead
transaction. After as many failures as the pool has connections, every later request waits
for the pool forever. These subclasses undo what `__aenter__` took when `begin()` fails,
then let the error go on (it is answered 503 `database_unavailable`).

Their transactions also hold back writes nobody reads the result of (`core.store.sql.later`):
every statement the transaction runs through Tortoise (the ORM's too) and its COMMIT first
sends what was held back, and a rollback forgets it. A savepoint sends it before it begins.

`core.store.db` names this module as Tortoise's engine; Tortoise asks it for a client class
(`get_client_class`) for each connection in the config.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    BaseDBAsyncClient,
    TransactionalDBClient,
    TransactionContext,
    TransactionContextPooled,
)
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections

from core.store import sql


class _HoldsWritesBack:
    """The transaction side of `core.store.sql.later`: send what was held back before anything else."""

    payments_later: list[tuple[str, list[Any]]] | None
    """What is held back; None while a savepoint is open (nothing is held back then)."""

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        await sql.flush(self)  # type: ignore[arg-type]
        return await super().execute_query(query, values)  # type: ignore[misc]

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        await sql.flush(self)  # type: ignore[arg-type]
        return await super().execute_query_dict(query, values)  # type: ignore[misc]

    async def execute_insert(self, query: str, values: list[Any]) -> Any:
        await sql.flush(self)  # type: ignore[arg-type]
        return await super().execute_insert(query, values)  # type: ignore[misc]

    async def execute_many(self, query: str, values: list[Any]) -> Any:
        await sql.flush(self)  # type: ignore[arg-type]
        return await super().execute_many(query, values)  # type: ignore[misc]

    async def execute_script(self, query: str) -> Any:
        await sql.flush(self)  # type: ignore[arg-type]
        return await super().execute_script(query)  # type: ignore[misc]

    async def commit(self) -> None:
        try:
            await sql.flush(self)  # type: ignore[arg-type]
        except BaseException:
            with contextlib.suppress(Exception):
                await self.rollback()
            raise
        await super().commit()  # type: ignore[misc]

    async def rollback(self) -> None:
        if self.payments_later:
            self.payments_later.clear()
        await super().rollback()  # type: ignore[misc]

    def _in_transaction(self) -> TransactionContext:
        return _FlushingSavepoint(self, super()._in_transaction())  # type: ignore[misc]


class _FlushingSavepoint(TransactionContext):
    """A savepoint inside a transaction that holds writes back: they go before it begins, and
    while it is open the outer transaction holds nothing back (a write through the outer
    handle runs at once, inside the savepoint, and is undone with it)."""

    def __init__(self, outer: Any, inner: TransactionContext) -> None:
        self.outer = outer
        self.inner = inner
        self.client = inner.client
        self.held: Any = None

    async def __aenter__(self) -> TransactionalDBClient:
        await sql.flush(self.outer)
        self.held, self.outer.payments_later = self.outer.payments_later, None
        try:
            return await self.inner.__aenter__()
        except BaseException:
            self.outer.payments_later = self.held
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.inner.__aexit__(*exc)
        finally:
            self.outer.payments_later = self.held


class PooledTransaction(_HoldsWritesBack, TransactionWrapper):
    """Tortoise's asyncpg transaction, holding back writes nobody reads (`core.store.sql.later`)."""

    def __init__(self, connection: AsyncpgDBClient) -> None:
        super().__init__(connection)
        self.payments_later = []


class SqliteTransaction(_HoldsWritesBack, SqliteTransactionWrapper):
    """Tortoise's SQLite transaction, holding back writes nobody reads (`core.store.sql.later`)."""

    def __init__(self, connection: SqliteClient) -> None:
        super().__init__(connection)
        self.payments_later = []


class ReleasingPooledTransaction(TransactionContextPooled):
    """A pooled transaction that returns its connection to the pool when BEGIN fails."""

    async def __aenter__(self) -> TransactionalDBClient:
        # Tortoise's own steps, with the undo it lacks around everything after the acquire.
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        token = None
        try:
            token = self.token = get_connections().set(self.connection_name, self.client)
            await self.client.begin()
        except BaseException:
            try:
                # asyncpg terminates a connection whose reset fails, freeing its pool slot.
                await pool.release(self.client._connection)
            finally:
                if token is not None:
                    get_connections().reset(token)
            raise
        return self.client


class ReleasingSqliteTransaction(SqliteTransactionContext):
    """An SQLite transaction that releases the client's lock when BEGIN fails."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        token = None
        try:
            await self.ensure_connection()
            token = self.token = get_connections().set(self.connection_name, self.connection)
            await self.connection.begin()
        except BaseException:
            if token is not None:
                get_connections().reset(token)
            self._trxlock.release()
            raise
        client: TransactionalDBClient = self.connection
        return client


class AsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client; its transactions release their connection on a failed BEGIN."""

    def _in_transaction(self) -> TransactionContext:
        return ReleasingPooledTransaction(PooledTransaction(self), self._pool_init_lock)


class SqliteDbClient(SqliteClient):
    """Tortoise's SQLite client; its transactions release the lock on a failed BEGIN."""

    def _in_transaction(self) -> TransactionContext:
        return ReleasingSqliteTransaction(SqliteTransaction(self), self._lock)


def get_client_class(db_info: dict[str, Any]) -> type[BaseDBAsyncClient]:
    """The client for one connection of the config: SQLite's is the one with a `file_path`."""
    if "file_path" in db_info.get("credentials", {}):
        return SqliteDbClient
    return AsyncpgClient
