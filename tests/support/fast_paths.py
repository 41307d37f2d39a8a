"""What the fast-path tests compare: an answer's visible parts, and which requests Quart saw."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from quart import Quart, request_started

from tests.support.api import Api, Reply


def comparable(reply: Reply, *moving: str) -> tuple[int, Any, str | None, str | None]:
    """Status, body, content type and length: what must be the same on both paths (less the
    body's `moving` fields, such as a time of evaluation)."""
    body = reply.body
    if isinstance(body, dict) and moving:
        body = {name: value for name, value in body.items() if name not in moving}
    return (
        reply.status,
        body,
        reply.headers.get("content-type"),
        reply.headers.get("content-length"),
    )


def quart_requests(app: Quart) -> list[object]:
    """A list that grows by one for every request Quart itself handles from now on."""
    seen: list[object] = []

    async def note(sender: object, **_: Any) -> None:
        seen.append(sender)

    request_started.connect(note, app, weak=False)
    return seen


@asynccontextmanager
async def twin_apis(fast: Quart, quart_only: Quart, token: str) -> AsyncIterator[tuple[Api, Api]]:
    """Both apps started, as clients: the one with a fast path, and the one without."""
    contexts: list[Any] = [fast.test_app(), quart_only.test_app()]
    for context in contexts:
        await context.__aenter__()
    try:
        yield Api(fast, token), Api(quart_only, token)
    finally:
        for context in contexts:
            await context.__aexit__(None, None, None)
