"""A real `payments serve` with PAYMENTS_LOG_FORMAT=json: every line it writes, Hypercorn's own
included, is one JSON object; each answer (a refusal Hypercorn makes itself too) has an
`x-request-id` and its line."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import orjson

from tests.support.serving import serving
from tests.web.test_serve_protocol_errors import exchange, request

TOKEN = "serve-logs-internal-token"


async def test_serve_writes_only_json_lines(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/served.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": TOKEN,
        "PAYMENTS_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "serve.log"
    async with serving(env, log_path) as (base, port):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/health", headers={"x-request-id": "up-1"}) as r:
                assert r.headers["x-request-id"] == "up-1"
            async with http.get(
                f"{base}/internal/payments/providers", headers={"x-platform-internal-token": "no"}
            ) as r:
                assert r.status == 401
                unauthorized = r.headers["x-request-id"]
            async with http.get(
                f"{base}/internal/payments/providers", headers={"x-platform-internal-token": TOKEN}
            ) as r:
                assert r.status == 200
        status, headers, _ = await exchange(port, request("/health", b"X-Note: a\x00b"))
        assert status == 400
        refused = headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", refused)

    lines = [orjson.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines)
    assert any(line["logger"] == "hypercorn.error" for line in lines)  # "Running on ..."
    requests = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    assert (requests["up-1"]["route"], requests["up-1"]["status"]) == ("/health", 200)
    assert requests[unauthorized]["status"] == 401
    assert (requests[refused]["route"], requests[refused]["status"]) == ("unparsed", 400)
    assert TOKEN not in log_path.read_text()
