"""A TCP proxy in front of PostgreSQL that a test can cut: a database that goes away for real.

The service connects through it as to any PostgreSQL. `cut()` resets every open connection
(a network failure or a server restart, as the driver sees it); `refuse()` also stops
accepting new ones (the server is unreachable) until `resume()`; `cut_when(marker)` resets
the connection that sends a message containing `marker` *before* it reaches the server, so
a test can drop the connection in the middle of a transaction, at a statement it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._url = parts
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._server: asyncio.Server | None = None
        self._port = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._marker: bytes | None = None
        self.cuts = 0
        """How many connections `cut_when` has reset."""

    @property
    def url(self) -> str:
        """The target URL with the proxy's host and port."""
        netloc = f"{self._url.username}@127.0.0.1:{self._port}"
        return urlunsplit(self._url._replace(netloc=netloc))

    async def start(self) -> TcpProxy:
        await self._listen()
        return self

    async def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._server = await asyncio.start_server(self._serve, sock=sock)
        self._port = sock.getsockname()[1]

    async def stop(self) -> None:
        await self.refuse()

    def cut(self) -> None:
        """Reset every open connection at once."""
        for writer in list(self._open):
            _reset(writer)
        self._open.clear()

    async def refuse(self) -> None:
        """Cut everything and stop listening: new connections are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.cut()

    async def resume(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            await self._listen()

    def cut_when(self, marker: bytes | None) -> None:
        """Reset the next connection whose client sends `marker` (None: stop doing so)."""
        self._marker = marker

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(client)
            return
        self._open.update((client, server))
        await asyncio.gather(
            self._pipe(client_reader, server, client, watch=True),
            self._pipe(server_reader, client, server, watch=False),
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
        *,
        watch: bool,
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if watch and self._marker is not None and self._marker in chunk:
                    self._marker = None
                    self.cuts += 1
                    _reset(writer)
                    _reset(other)
                    return
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for side in (writer, other):
                self._open.discard(side)
                _reset(side)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close at once, with a TCP reset rather than an orderly goodbye."""
    with contextlib.suppress(Exception):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        writer.transport.abort()
