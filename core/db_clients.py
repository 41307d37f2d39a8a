"""Tortoise's database clients, with a transaction that gives its connection back when BEGIN fails.

Tortoise 1.1's transaction contexts take their connection (a pooled asyncpg connection, or
the SQLite client's one connection behind its lock) in `__aenter__` and only give it back in
`__aexit__`. When `begin()` raises, as it does when PostgreSQL terminated the backend the
pool handed out, `__aexit__` never runs: the pooled connection is never released (and on
SQLite the client's lock is never released), and the task keeps pointing at the dead
transaction. After as many failures as the pool has connections, every later request waits
for the pool forever. These subclasses undo what `__aenter__` took when `begin()` fails,
then let the error go on (it is answered 503 `database_unavailable`).

`core.db` names this module as Tortoise's engine; Tortoise asks it for a client class
(`get_client_class`) for each connection in the config.
"""

from __future__ import annotations

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
        return ReleasingPooledTransaction(TransactionWrapper(self), self._pool_init_lock)


class SqliteDbClient(SqliteClient):
    """Tortoise's SQLite client; its transactions release the lock on a failed BEGIN."""

    def _in_transaction(self) -> TransactionContext:
        return ReleasingSqliteTransaction(SqliteTransactionWrapper(self), self._lock)


def get_client_class(db_info: dict[str, Any]) -> type[BaseDBAsyncClient]:
    """The client for one connection of the config: SQLite's is the one with a `file_path`."""
    if "file_path" in db_info.get("credentials", {}):
        return SqliteDbClient
    return AsyncpgClient
