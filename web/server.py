"""How this service's processes run: Hypercorn's configuration and the event loop, shared by
`payments serve`, `payments worker` and the benchmark's hello-world baseline, so that all run
on exactly the same setup."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop
from hypercorn.config import Config

from web import protocol_errors

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop: libuv's event loop, much faster than asyncio's own at the
    socket work that dominates a request (and asyncpg is built to use it)."""
    return uvloop.run(main)


def hypercorn_config(host: str, port: int) -> Config:
    """Hypercorn's settings; also makes Hypercorn's own 400/431 answers JSON (`web.protocol_errors`)."""
    protocol_errors.install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75  # longer than typical client pools', so reuse is not cut short
    return config
