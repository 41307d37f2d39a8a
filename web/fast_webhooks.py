"""Provider webhooks answered below Quart when they ingest cleanly.

Every webhook costs at least a commit (acknowledged only once committed); what a webhook
costs above that floor is the service's own. Quart's per-request machinery (request and app
contexts, URL matching, before and after hooks, quart-schema's response conversion) was an
eighth of it. This ASGI middleware takes `POST /webhooks/<providerKey>` for the providers
this process runs, reads the body (at most the route's 1 MiB), calls the same
`core.ingest.intake.ingest_webhook` as the route and answers its 200 itself, with the route's body,
headers and metrics.

Anything else goes on to the Quart route unchanged, which stays the documented one and owns
every error: another path or method, an unknown provider key, a body over the limit. When
the ingest itself raises (a bad signature, a body the provider refuses, a lost database),
the request goes on to the route with the body it sent and the exception (`failure`): the
route raises that exception instead of ingesting a second time, so Quart's error handlers
answer it exactly as if the route had met it, and nothing is tried twice.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, Scope
from quart import Quart

from core.ingest.intake import ingest_webhook
from core.plugins import Registry
from web.asgi_answers import quart_headers, replaying, send_json
from web.metrics import request_meters
from web.request_log import note_route

ENDPOINT = "webhooks.receive_webhook"
_FAILURE: ContextVar[Exception | None] = ContextVar("payments_webhook_failure", default=None)


def failure() -> Exception | None:
    """What the fast path's ingest of this request raised, for the route to raise again."""
    return _FAILURE.get()


class WebhookFastPath:
    """Wraps `app.asgi_app`; see the module docstring."""

    def __init__(self, app: Quart, inner: Any, *, registry: Registry, max_body: int) -> None:
        self.inner = inner
        self.registry = registry
        self.max_body = max_body
        rule = next(r.rule for r in app.url_map.iter_rules() if r.endpoint == ENDPOINT)
        prefix = rule.split("<", 1)[0]
        self.paths = {prefix + key: key for key in registry.providers}
        self.rule = rule
        self.counted, self.timed = request_meters("POST", rule, 200)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        key = self._recognise(scope)
        if key is None or scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        read, body = await self._read_body(receive)
        if body is None:
            await self.inner(scope, replaying(read, receive), send)
            return
        try:
            result = await ingest_webhook(self.registry, key, body, quart_headers(scope))
        except Exception as error:
            marked = _FAILURE.set(error)
            try:
                await self.inner(scope, replaying(read, receive), send)
            finally:
                _FAILURE.reset(marked)
            return
        answer = orjson.dumps({"received": True, "status": result.status})
        note_route(self.rule)
        await send_json(send, 200, answer)
        self.counted.inc()
        self.timed.observe(time.perf_counter() - started)

    def _recognise(self, scope: Scope) -> str | None:
        """The provider key when this request is a webhook the fast path takes, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        return self.paths.get(scope["path"])

    async def _read_body(
        self, receive: ASGIReceiveCallable
    ) -> tuple[list[ASGIReceiveEvent], bytes | None]:
        """The messages read, and the body; None when Quart must see the rest (over the
        limit, or the client went away), with what was read so far to hand over."""
        read: list[ASGIReceiveEvent] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                return read, None  # a disconnect: Quart sees the same and gives up
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return read, None  # the route's 413
            if not message.get("more_body", False):
                return read, b"".join(chunks)
