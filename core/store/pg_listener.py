"""Cross-process signals on PostgreSQL: LISTEN on one channel with a dedicated connection.

Used for two things: the outbox channel (`record_event` and the retry route `NOTIFY` at
commit, so every dispatcher wakes within milliseconds instead of waiting for its next poll)
and the plan-status channel (writes that change a tenant's plan status `NOTIFY` at commit, so
every process drops its cached answer). The connection is dedicated (a pooled one would lose
its LISTEN when returned) and reopened if it drops; `on_connection` tells the owner when it
is up or down, so that it can fall back (polling; not caching) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger("platform_payments.listen")

HEALTH_CHECK_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 10.0
APPLICATION_NAME = "payments-delivery-listen"
"""How the LISTEN connection shows in `pg_stat_activity`."""


def asyncpg_dsn(database_url: str) -> str:
    """The database URL as asyncpg takes it (Tortoise-only query options dropped)."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


class NotifyListener:
    """Calls `on_notify(payload)` for every notification on `channel`, reconnecting as needed.

    `on_notify("")` is also called right after each (re)connection, for whatever was
    committed while nobody was listening.
    """

    def __init__(
        self,
        database_url: str,
        on_notify: Callable[[str], None],
        *,
        channel: str,
        application_name: str = APPLICATION_NAME,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._on_notify = on_notify
        self._channel = channel
        self._application_name = application_name
        self._on_connection = on_connection
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        """How many times the LISTEN connection was opened (1 + reconnections)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"payments-listen-{self._channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen_until_lost()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "LISTEN %s connection failed (%s); falling back meanwhile", self._channel, error
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": self._application_name}
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(self._channel, self._notified)
            self.connects += 1
            self.connected.set()
            if self._on_connection is not None:
                self._on_connection(True)
            self._on_notify("")  # anything committed while we were not listening
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), HEALTH_CHECK_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1")
        finally:
            self.connected.clear()
            if self._on_connection is not None:
                self._on_connection(False)
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
