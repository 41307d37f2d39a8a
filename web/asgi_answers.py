"""What the fast paths below Quart share: sending a JSON answer, replaying a body they read.

`web.fast_plan_status` and `web.fast_webhooks` answer their successful case themselves and
hand everything else to the Quart app. The JSON answer they send must look exactly like the
route's (`web.responses.json_response`): the same content type and length. A request whose
body was already read must reach Quart as if nothing had read it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
)

_JSON = (b"content-type", b"application/json")


async def send_json(send: ASGISendCallable, status: int, body: bytes) -> None:
    """One complete answer with a serialized JSON body, as `json_response` gives it."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [_JSON, (b"content-length", str(len(body)).encode())],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)


def replaying(
    read: Sequence[ASGIReceiveEvent], receive: ASGIReceiveCallable
) -> ASGIReceiveCallable:
    """A `receive` that gives back the messages already read, then the client's own."""
    pending = list(read)

    async def replay() -> ASGIReceiveEvent:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def quart_headers(scope: HTTPScope) -> dict[str, str]:
    """The request headers as `dict(quart.request.headers)` gives them to a route.

    Quart title-cases the names and puts `Remote-Addr` first, and a dict of its headers keeps
    the first of repeated names; a provider plugin sees the same mapping whichever path
    served it.
    """
    client = scope.get("client")
    headers = {"Remote-Addr": client[0] if client else "<local>"}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin1").title(), value.decode("latin1"))
    if scope["http_version"] < "1.1":
        headers.setdefault("Host", "")
    return headers
