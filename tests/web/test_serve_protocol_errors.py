"""Requests Hypercorn refuses before the app sees them still get the contract's JSON error.

Only a real `payments serve` shows this (the in-process test client has no HTTP parser), so
raw bytes go over a socket: a NUL in a header, a 100 kB header, 10,000 query parameters,
a request line that is not HTTP. The answer is the same status Hypercorn always gave (400
or 431), now with `{"statusCode", "error", "message", "code"}` instead of an empty body.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.support.serving import serving


@pytest.fixture(scope="module")
async def port(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    """One server for the module: each case is a connection of its own."""
    tmp_path = tmp_path_factory.mktemp("serve_protocol_errors")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PAYMENTS_", "STRIPE_"))},
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/served.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": "tok",
    }
    async with serving(env, tmp_path / "serve.log") as (_, bound):
        yield bound


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read until close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await reader.read(-1)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def request(target: str, *extra_headers: bytes) -> bytes:
    lines = [f"GET {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", *extra_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


MANY_PARAMS = "/internal/payments/purchases?" + "&".join(f"p{i}=1" for i in range(10_000))
CASES = [
    pytest.param(
        request("/health", b"X-Note: a\x00b"), 400, "malformed_request", id="nul-in-header"
    ),
    pytest.param(
        request("/health", b"X-Big: " + b"a" * 100_000), 431, "headers_too_large", id="100kB-header"
    ),
    pytest.param(request(MANY_PARAMS), 431, "headers_too_large", id="10000-query-params"),
    pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, "malformed_request", id="not-http"),
    pytest.param(
        request("/health", b"Transfer-Encoding: gzip"),
        501,
        "not_implemented",
        id="transfer-encoding",
    ),
]


@pytest.mark.parametrize(("raw", "status", "code"), CASES)
async def test_hypercorns_own_refusals_are_json(
    port: int, raw: bytes, status: int, code: str
) -> None:
    answered, headers, body = await exchange(port, raw)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = orjson.loads(body)
    assert set(error) == {"statusCode", "error", "message", "code"}
    assert (error["statusCode"], error["code"]) == (status, code)
    assert error["message"]


async def test_a_good_request_on_the_same_server_is_unchanged(port: int) -> None:
    answered, _, body = await exchange(port, request("/health", b"Connection: close"))
    assert answered == 200
    assert orjson.loads(body)["status"] == "ok"
