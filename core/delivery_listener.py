"""Cross-process wake-ups on PostgreSQL: LISTEN on the outbox channel with its own connection.

`record_event` and the retry route `NOTIFY` at commit; every dispatcher listening wakes
within milliseconds instead of waiting for its next poll. The connection is dedicated
(a pooled one would lose its LISTEN when returned) and reopened if it drops; while it is
down, polling still delivers everything, only later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.outbox import NOTIFY_CHANNEL

log = logging.getLogger("platform_payments.delivery")

HEALTH_CHECK_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 10.0
APPLICATION_NAME = "payments-delivery-listen"
"""How the LISTEN connection shows in `pg_stat_activity`."""


def asyncpg_dsn(database_url: str) -> str:
    """The database URL as asyncpg takes it (Tortoise-only query options dropped)."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


class NotifyListener:
    """Calls `on_notify()` for every notification on the outbox channel, reconnecting as needed."""

    def __init__(self, database_url: str, on_notify: Callable[[], None]) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        """How many times the LISTEN connection was opened (1 + reconnections)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="payments-delivery-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, *_: Any) -> None:
        self._on_notify()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen_until_lost()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("delivery LISTEN connection failed (%s); polling meanwhile", error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": APPLICATION_NAME}
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, self._notified)
            self.connects += 1
            self.connected.set()
            self._on_notify()  # anything committed while we were not listening
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), HEALTH_CHECK_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1")
        finally:
            self.connected.clear()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
