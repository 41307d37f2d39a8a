"""Every error path answers the contract's JSON error: never HTML, never a traceback."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from quart import Blueprint

from core.hookspecs import hookimpl
from core.plugins import build_plugin_manager
from tests.conftest import TOKEN
from tests.support.api import Api


class Exploding:
    """A plugin whose route fails unexpectedly, to see what a caller gets."""

    @hookimpl
    def register_routes(self) -> list[Blueprint]:
        blueprint = Blueprint("exploding", __name__)

        @blueprint.get("/internal/payments/explode")
        async def explode() -> Any:
            raise RuntimeError("secret database password is hunter2")

        return [blueprint]


def assert_error(reply: Any, status: int, code: str) -> None:
    assert reply.status == status, reply.raw
    assert reply.headers["content-type"].startswith("application/json")
    assert set(reply.body) >= {"statusCode", "error", "message", "code"}
    assert reply.body["statusCode"] == status
    assert reply.body["code"] == code
    assert b"Traceback" not in reply.raw
    assert b"<html" not in reply.raw.lower()


async def test_unknown_route_is_json_404(api: Api) -> None:
    assert_error(await api.get("/nope", token=None), 404, "route_not_found")


async def test_method_not_allowed_is_json_405(api: Api) -> None:
    reply = await api.request("PUT", "/internal/payments/pricing-items")
    assert_error(reply, 405, "method_not_allowed")
    assert "GET" in reply.headers["allow"]


async def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    reply = await api.post(
        "/internal/payments/pricing-items",
        data=b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_error(reply, 413, "payload_too_large")


async def test_unexpected_exception_is_a_bare_json_500(make_settings, database: str) -> None:
    from web.app import create_app

    manager = build_plugin_manager(extra_plugins=[Exploding()])
    app = create_app(make_settings(), manager, connect_database=False)
    async with app.test_app():
        api = Api(app, TOKEN)
        reply = await api.get("/internal/payments/explode")
    assert_error(reply, 500, "internal_error")
    assert reply.body["message"] == "internal error"
    assert b"hunter2" not in reply.raw


async def test_metrics_are_prometheus_text(api: Api) -> None:
    await api.get("/internal/payments/providers")
    reply = await api.get("/metrics", token=None)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.raw.decode()
    assert (
        'payments_http_requests_total{method="GET",route="/internal/payments/providers",status="200"}'
        in text
    )
    assert "payments_http_request_seconds_bucket" in text


def _codes_in_source(path: Path) -> set[str]:
    """Every machine code a module can answer with, read from its syntax tree: `code="..."`
    arguments, `code = "..."` class attributes, the status-to-code tables of `web/errors.py`
    and `web/protocol_errors.py`, and `error_body(status, message, "code")` calls."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.keyword) and node.arg == "code":
            found.update(_strings(node.value))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if "code" in names and node.value is not None:
                found.update(_strings(node.value))
            if names & {"_HTTP_CODES", "_MESSAGES"} and isinstance(node.value, ast.Dict):
                for value in node.value.values:
                    found.update(_strings(value)[:1])
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "error_body" and len(node.args) == 3:
                found.update(_strings(node.args[2]))
            fallback = node.args[1] if name == "get" and len(node.args) == 2 else None
            if isinstance(fallback, ast.Tuple):  # `_MESSAGES.get(status, ("http_error", ...))`
                found.update(_strings(fallback)[:1])
    return {code for code in found if CODE.fullmatch(code)}


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple):
        return [s for item in node.elts for s in _strings(item)]
    return []


CODE = re.compile(r"[a-z]+(?:_[a-z]+)+|[a-z]+")


def test_every_error_code_in_code_is_documented_in_decisions(repo_root: Path) -> None:
    """docs/decisions.md lists every code a caller can get, so the list cannot drift."""
    sources = [
        path
        for folder in ("core", "web", "plugins")
        for path in (repo_root / folder).rglob("*.py")
        if "tests" not in path.parts
    ]
    codes = set().union(*(_codes_in_source(path) for path in sources))
    assert {"validation_failed", "database_unavailable", "headers_too_large"} <= codes
    documented = set(re.findall(r"`([a-z_]+)`", (repo_root / "docs/decisions.md").read_text()))
    assert sorted(codes - documented) == []
