"""Which exceptions mean "the database is unreachable or dropped us", answered 503.

A request that loses its database is not the caller's fault and not a bug: it is answered
503 `database_unavailable` with `Retry-After`, and because every write runs in one
transaction, nothing of it was kept. Only connection loss counts; every other database
error (a constraint, a syntax error, a bad value) stays a 500 `internal_error`, so real
bugs are not disguised as outages.
"""

from __future__ import annotations

import errno
import socket
from types import TracebackType

import asyncpg
from quart import Response
from tortoise.exceptions import DBConnectionError

from core.errors import DatabaseUnavailable
from web.responses import error_response

_PG_GONE: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,  # class 08: the connection does not exist, failed
    asyncpg.exceptions.AdminShutdownError,  # 57P01: pg_terminate_backend, a server shutdown
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, in recovery
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000: the database was dropped
)
_CLOSED_WORDS = ("connection is closed", "pool is closed", "pool is closing")
"""asyncpg's InterfaceError says these when a connection or the pool went away."""
_PROTOCOL_ABANDONED = "another operation (2) is in progress"
"""asyncpg's InternalClientError when a pooled connection read the server's FATAL goodbye
(pg_terminate_backend) while idle and was handed out before it saw the socket close: its
protocol waits (state 2, error-consume) for a sync the server will never send."""
_SQLITE_GONE = ("database is locked", "unable to open database file", "disk i/o error")
_AIOSQLITE_GONE = ("connection closed", "no active connection")
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
}
_DATABASE_MODULES = ("asyncpg", "tortoise", "aiosqlite", "sqlite3")
_CHAIN_LIMIT = 8


def _from_database_code(traceback: TracebackType | None) -> bool:
    """Whether the exception passed through the database driver or ORM on its way up.

    A network error from anything else (a provider's HTTP client, a consumer) is not ours
    to call a database outage.
    """
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DATABASE_MODULES):
            return True
        traceback = traceback.tb_next
    return False


def _is_database_layer(error: BaseException) -> bool:
    return type(error).__module__.startswith(_DATABASE_MODULES)


def _means_gone(error: BaseException) -> bool:
    if isinstance(error, (DBConnectionError, *_PG_GONE)):
        return True
    message = str(error).lower()
    if type(error) is asyncpg.InterfaceError:
        return any(words in message for words in _CLOSED_WORDS)
    if type(error) is asyncpg.InternalClientError:
        return _PROTOCOL_ABANDONED in message
    if type(error).__module__ == "sqlite3" and type(error).__name__ == "OperationalError":
        return any(words in message for words in _SQLITE_GONE)
    if isinstance(error, OSError | TimeoutError) and _from_database_code(error.__traceback__):
        network = isinstance(error, ConnectionError | socket.gaierror | TimeoutError)
        return network or error.errno in _NETWORK_ERRNOS
    if type(error) is ValueError and _from_database_code(error.__traceback__):
        return any(words in message for words in _AIOSQLITE_GONE)
    return False


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error`, or a database error it wraps, says the connection is gone."""
    current: BaseException | None = error
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            return False
        if _means_gone(current):
            return True
        if not _is_database_layer(current):
            return False  # only follow the chain of the ORM's and drivers' own wrappers
        current = current.__cause__ or current.__context__
    return False


def database_unavailable_response() -> Response:
    """The contract's error, 503, with `Retry-After` so a caller knows when to try again."""
    error = DatabaseUnavailable(
        "the database is unavailable right now; nothing was changed, try again shortly"
    )
    response = error_response(error)
    response.headers["Retry-After"] = str(DatabaseUnavailable.RETRY_AFTER)
    return response
