"""Every error path answers the contract's JSON error: never HTML, never a traceback."""

from __future__ import annotations

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
