"""The request id and the one log line per request, around everything that answers.

`RequestLog` is the outermost ASGI middleware (around both fast paths and Quart), so every
answer the app gives, the fast paths' included, gets the same treatment:

- the request id: the caller's `x-request-id` when it is 1-128 visible ASCII characters,
  else a new one (uuid4 hex); it is set in `core.logs.request_id` for everything the
  request logs (its webhook ingest among them), and returned in `x-request-id` on the answer;
- one line when the answer is sent: `method`, `route` (the matched rule, as the metrics label
  it: `/internal/payments/subscriptions/<id>/cancel`, `unmatched` for a 404), `status`,
  `duration_ms`, `request_id`.

Whoever answers names the route it matched with `note_route` (Quart's after-request hook
that records the request metrics, `web.metrics`, and each fast path itself, as it records
its metrics). Hypercorn's own refusals of a request it cannot parse never
reach an app; `web.protocol_errors` gives them an id and a line too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

from core.logs import request_id
from web.asgi_answers import send_json
from web.responses import error_body

HEADER = "x-request-id"
_HEADER = HEADER.encode()
MAX_REQUEST_ID = 128
_VALID = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_REQUEST_ID)
"""An id we take from the caller: visible ASCII (no spaces or control characters), bounded."""

log = logging.getLogger("platform_payments.http")


class _Seen:
    __slots__ = ("route", "status")

    def __init__(self) -> None:
        self.route = "unmatched"
        self.status: int | None = None


_SEEN: ContextVar[_Seen | None] = ContextVar("payments_request_seen", default=None)


def note_route(rule: str) -> None:
    """The rule the request being served matched (for its log line)."""
    seen = _SEEN.get()
    if seen is not None:
        seen.route = rule


def new_request_id() -> str:
    return uuid.uuid4().hex


def choose_request_id(headers: Any) -> str:
    """The caller's `x-request-id` when acceptable, else a new one."""
    for name, value in headers:
        if name == _HEADER or (len(name) == len(_HEADER) and name.lower() == _HEADER):
            if _VALID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return new_request_id()


def log_request(
    method: str | None, route: str, status: int | None, duration_ms: float, rid: str
) -> None:
    """The one line of a request (`rid` also shows as `request_id` while it is current)."""
    level = logging.INFO if status is not None and status < 500 else logging.ERROR
    if log.isEnabledFor(level):
        shown = status if status is not None else "(no answer)"
        log.log(
            level,
            f"{method} {route} {shown}",
            extra={
                "event": "request",
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": rid,
            },
        )


class RequestLog:
    """Wraps `app.asgi_app` outermost; see the module docstring."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        rid = choose_request_id(scope["headers"])
        header = (_HEADER, rid.encode())
        seen = _Seen()

        async def sending(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        marked = request_id.set(rid)
        noted = _SEEN.set(seen)
        try:
            await self.inner(scope, receive, sending)
        except Exception:
            log.exception("unhandled error below the app", extra={"route": seen.route})
            if seen.status is None:
                body = error_body(500, "internal error", "internal_error")
                await send_json(sending, 500, orjson.dumps(body))
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log_request(scope["method"], seen.route, seen.status, duration_ms, rid)
            _SEEN.reset(noted)
            request_id.reset(marked)
