"""A real aiohttp server standing in for a product backend that receives payment events.

Tests script what it answers, one action per request in order, then the default:
`Respond(200)`, `Respond(503)`, `Respond(429, retry_after="1")`, `Respond(410)`,
`Hang(seconds)` (answers nothing until the client gives up), `Hold()` (answers only
once `release()` is called). It records every request, checks the Standard Webhooks
signature with the `standardwebhooks` library when given the secret, and notes any
delivery it receives while another request for the same `webhook-id` is still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

EVENTS_PATH = "/api/internal/payments/events"


@dataclass(frozen=True)
class Respond:
    status: int = 200
    retry_after: str | None = None
    body: str = '{"received":true}'
    delay: float = 0.0
    """Seconds to wait before answering (keeps requests open, so overlaps would show)."""


@dataclass(frozen=True)
class Hang:
    """Say nothing for `seconds` (longer than the dispatcher's timeout), then 200."""

    seconds: float = 30.0


@dataclass(frozen=True)
class Hold:
    """Say nothing until `release()`, then answer `then`."""

    then: Respond = field(default_factory=Respond)


Action = Respond | Hang | Hold


@dataclass(frozen=True)
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None
    """True/False when the server knows the secret; None when it does not check."""
    at: float

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


def _lower(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


class ConsumerServer:
    """`async with ConsumerServer() as server:`; point a consumer at `server.url`."""

    def __init__(self, secret: str | None = None, default: Action | None = None) -> None:
        self.secret = secret
        self.default: Action = default or Respond(200)
        self.script: deque[Action] = deque()
        self.requests: list[Received] = []
        self.concurrent_duplicates: list[str] = []
        self.open_requests = 0
        self._active: Counter[str] = Counter()
        self._released = asyncio.Event()
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._handle)
        self._server = TestServer(app, host="127.0.0.1", shutdown_timeout=1.0)

    @property
    def url(self) -> str:
        return str(self._server.make_url(EVENTS_PATH))

    def then(self, *actions: Action) -> ConsumerServer:
        """Answer the next requests with these actions, in order."""
        self.script.extend(actions)
        return self

    def release(self) -> None:
        """Let every held request answer (and any later `Hold` pass straight through)."""
        self._released.set()

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.requests]

    async def __aenter__(self) -> ConsumerServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        self._closing.set()
        self._released.set()
        await self._server.close()

    def _verified(self, request: web.Request, body: bytes) -> bool | None:
        if self.secret is None:
            return None
        try:
            Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            return False
        return True

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        signature_ok = self._verified(request, body)
        self.requests.append(
            Received(webhook_id, _lower(request), body, signature_ok, time.monotonic())
        )
        self._active[webhook_id] += 1
        if self._active[webhook_id] > 1:
            self.concurrent_duplicates.append(webhook_id)
        self.open_requests += 1
        try:
            if signature_ok is False:
                return web.Response(status=401, text="bad signature")
            action = self.script.popleft() if self.script else self.default
            return await self._act(action)
        finally:
            self.open_requests -= 1
            self._active[webhook_id] -= 1

    async def _act(self, action: Action) -> web.Response:
        if isinstance(action, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), action.seconds)
            return web.Response(status=200)
        if isinstance(action, Hold):
            await self._released.wait()
            action = action.then
        if action.delay:
            await asyncio.sleep(action.delay)
        headers = {"Retry-After": action.retry_after} if action.retry_after else None
        return web.Response(
            status=action.status,
            text=action.body,
            headers=headers,
            content_type="application/json",
        )
