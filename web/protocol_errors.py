"""Hypercorn's own refusals (a request h11 cannot parse) answered with the contract's JSON error.

Like every answer, each has an `x-request-id` (a new one: nothing of the request was read)
and its line in the log (`web.request_log`, route `unparsed`).

A request line or header that HTTP/1.1 forbids (a NUL in a header value, a header or
request line beyond h11's 16 KiB buffer, 10,000 query parameters in the target) never
reaches the app: h11 raises `RemoteProtocolError` while parsing, and Hypercorn's
`H11Protocol._send_error_response` writes a bare status line with an empty body. No ASGI
middleware or Hypercorn setting can change that answer, because no ASGI scope exists yet.
So `install` puts a subclass of `H11Protocol` in the place where Hypercorn's
`ProtocolWrapper` looks it up, whose `_send_error_response` sends the same status with the
contract's body. Hypercorn is pinned to an exact version (pyproject.toml); the test in
`tests/web/test_serve_protocol_errors.py` runs a real `payments serve` and fails if an upgrade
moves this seam. HTTP/2 is not served (no TLS, no h2c upgrade in use), so only HTTP/1.1
needs it.
"""

from __future__ import annotations

from itertools import chain

import h11
import hypercorn.protocol
import orjson
from hypercorn.protocol.h11 import H11Protocol

from web.request_log import log_request, new_request_id
from web.responses import error_body

_MESSAGES = {
    400: ("malformed_request", "the request line or a header is not valid HTTP/1.1"),
    431: (
        "headers_too_large",
        "the request line and headers together exceed 16 KiB (too many or too long)",
    ),
    501: ("not_implemented", "this Transfer-Encoding is not supported"),
}


def protocol_error_body(status: int) -> bytes:
    """The JSON error for a status h11 refused a request with."""
    code, message = _MESSAGES.get(status, ("http_error", "the server refused this request"))
    return orjson.dumps(error_body(status, message, code))


class JsonErrorH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, with a JSON body on the answers it makes by itself."""

    async def _send_error_response(self, status_code: int) -> None:
        body = protocol_error_body(status_code)
        rid = new_request_id()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", rid.encode()),
        ]
        log_request(None, "unparsed", status_code, 0.0, rid)
        await self._send_h11_event(
            h11.Response(
                status_code=status_code,
                headers=list(chain(headers, self.config.response_headers("h11"))),
            )
        )
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


def install() -> None:
    """Make every HTTP/1.1 connection Hypercorn accepts from now on use `JsonErrorH11Protocol`."""
    if not hasattr(H11Protocol, "_send_error_response"):  # pragma: no cover - an upgrade moved it
        raise RuntimeError("hypercorn's H11Protocol has no _send_error_response to override")
    setattr(hypercorn.protocol, "H11Protocol", JsonErrorH11Protocol)  # noqa: B010
