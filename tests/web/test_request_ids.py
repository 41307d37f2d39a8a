"""`x-request-id` on every answer (Quart's, the plan-status fast path's, a 401's, a 404's, a 400's),
honoured, made or replaced, and the one log line per request that carries it."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import TOKEN
from tests.support.api import Api
from tests.support.fast_paths import quart_requests
from tests.support.logs import captured_logs

PLAN_STATUS = "/internal/payments/tenants/t1/plan-status"
PLAN_RULE = "/internal/payments/tenants/<consumerTenantId>/plan-status"
HEX32 = re.compile(r"[0-9a-f]{32}")


# --- x-request-id and the line per request ----------------------------------------------------


def _requests(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "request"]


async def test_a_request_id_is_made_honoured_or_replaced_and_always_returned(api: Api) -> None:
    with captured_logs() as logs:
        made = await api.get("/health")
        honoured = await api.get("/health", headers={"x-request-id": "caller-id.42:x/y"})
        too_long = await api.get("/health", headers={"x-request-id": "x" * 129})
        spaced = await api.get("/health", headers={"x-request-id": "two words"})
        longest = await api.get("/health", headers={"x-request-id": "y" * 128})
    assert HEX32.fullmatch(made.headers["x-request-id"])
    assert honoured.headers["x-request-id"] == "caller-id.42:x/y"
    assert HEX32.fullmatch(too_long.headers["x-request-id"])
    assert HEX32.fullmatch(spaced.headers["x-request-id"])
    assert longest.headers["x-request-id"] == "y" * 128
    ids = [r.headers["x-request-id"] for r in (made, honoured, too_long, spaced, longest)]
    lines = _requests(logs.lines())
    assert [line["request_id"] for line in lines] == ids
    for line in lines:
        assert (line["method"], line["route"], line["status"]) == ("GET", "/health", 200)
        assert isinstance(line["duration_ms"], float | int)
        assert line["level"] == "info"


async def test_errors_and_401s_carry_the_request_id(api: Api) -> None:
    with captured_logs() as logs:
        unauthorized = await api.get(PLAN_STATUS, token=None, headers={"x-request-id": "r-401"})
        wrong = await api.get("/internal/payments/providers", token="nope")
        missing = await api.get("/no/such/route", headers={"x-request-id": "r-404"})
        bad = await api.post(
            "/internal/payments/pricing-items", json={"code": 1}, headers={"x-request-id": "r-400"}
        )
    assert unauthorized.status == 401
    assert unauthorized.headers["x-request-id"] == "r-401"
    assert wrong.status == 401
    assert HEX32.fullmatch(wrong.headers["x-request-id"])
    assert (missing.status, missing.headers["x-request-id"]) == (404, "r-404")
    assert (bad.status, bad.headers["x-request-id"]) == (400, "r-400")
    seen = {line["request_id"]: line for line in _requests(logs.lines())}
    assert (seen["r-401"]["route"], seen["r-401"]["status"]) == (PLAN_RULE, 401)
    assert seen[wrong.headers["x-request-id"]]["route"] == "/internal/payments/providers"
    assert (seen["r-404"]["route"], seen["r-404"]["status"]) == ("unmatched", 404)
    assert (seen["r-400"]["route"], seen["r-400"]["method"]) == (
        "/internal/payments/pricing-items",
        "POST",
    )
    assert TOKEN not in logs.text
    assert "nope" not in logs.text


async def test_the_plan_status_fast_path_returns_and_logs_the_request_id(api: Api) -> None:
    quart_saw = quart_requests(api.app)
    with captured_logs() as logs:
        fast = await api.get(PLAN_STATUS, headers={"x-request-id": "plan-1"})
        made = await api.get(PLAN_STATUS)
    assert (fast.status, made.status) == (200, 200)
    assert quart_saw == []  # both answered below Quart
    assert fast.headers["x-request-id"] == "plan-1"
    assert HEX32.fullmatch(made.headers["x-request-id"])
    lines = _requests(logs.lines())
    assert [(line["request_id"], line["route"], line["status"]) for line in lines] == [
        ("plan-1", PLAN_RULE, 200),
        (made.headers["x-request-id"], PLAN_RULE, 200),
    ]


async def test_text_logs_show_each_request_on_one_line(api: Api) -> None:
    with captured_logs("text") as logs:
        await api.get(PLAN_STATUS, headers={"x-request-id": "txt-1"})
    [line] = [line for line in logs.text.splitlines() if "platform_payments.http" in line]
    assert f"GET {PLAN_RULE} 200 duration_ms=" in line
    assert line.endswith("request_id=txt-1")
