"""The webhook fast path answers exactly as the Quart route does, and leaves it every error."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from core.config import Settings
from core.models import ProviderEvent
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api, Reply
from tests.support.fast_paths import comparable, quart_requests, twin_apis
from tests.support.webhooks import SECRET
from web.app import create_app

RULE = "/webhooks/<provider_key>"


@pytest.fixture
async def twin_apps(
    database: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[Api, Api]]:
    """The same app twice over the emptied test database: with the fast path (as served) and
    without it (Quart alone)."""
    settings = make_settings(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
    apps = [
        create_app(settings, connect_database=False, fast_webhooks=fast) for fast in (True, False)
    ]
    async with twin_apis(apps[0], apps[1], TOKEN) as apis:
        yield apis


def _event(event_id: str) -> bytes:
    """An event the service stores and ignores (no tenant, no facts): the same answer twice."""
    payload = se.event("customer.created", se.fixture("customer"), created=int(time.time()))
    payload["id"] = event_id
    return se.encode(payload)


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Stripe-Signature": se.sign(body, secret), "content-type": "application/json"}


def _served() -> float:
    labels = {"method": "POST", "route": RULE, "status": "200"}
    return REGISTRY.get_sample_value("payments_http_requests_total", labels) or 0.0


async def _post(api: Api, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    return await api.post(path, data=body, headers=headers, token=None)


def _cases(event_id: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers) sent to both apps; each app gets its own event ids."""
    good = _event(event_id)
    return [
        ("/webhooks/stripe", good, _signed(good)),
        ("/webhooks/stripe", good, _signed(good)),  # the repeat: duplicate
        ("/webhooks/stripe", good, {"Stripe-Signature": "t=1,v1=00"}),
        ("/webhooks/stripe", good, {}),
        ("/webhooks/stripe", b"", _signed(b"")),
        ("/webhooks/stripe", b"{not json", _signed(b"{not json")),
        ("/webhooks/stripe", b"[1, 2]", _signed(b"[1, 2]")),
        ("/webhooks/stripe", good, _signed(good, "whsec_someone_else")),
        ("/webhooks/nowhere", good, _signed(good)),
        ("/webhooks/stripe/", good, _signed(good)),
        ("/webhooks/stripe", b"x" * (1024 * 1024 + 1), {}),
    ]


async def test_fast_path_answers_as_the_route_does(twin_apps: tuple[Api, Api]) -> None:
    fast, quart_only = twin_apps
    fast_cases, quart_cases = _cases("evt_fast_twin"), _cases("evt_quart_twin")
    for (path, body, headers), (_, quart_body, quart_headers) in zip(
        fast_cases, quart_cases, strict=True
    ):
        seen = await _post(fast, path, body, headers)
        expected = await _post(quart_only, path, quart_body, quart_headers)
        assert comparable(seen) == comparable(expected), (path, headers)
    statuses = {e.provider_event_id: e.status for e in await ProviderEvent.all()}
    assert statuses == {"evt_fast_twin": "ignored", "evt_quart_twin": "ignored"}


async def test_fast_path_skips_quart_only_for_webhooks_that_ingest(
    twin_apps: tuple[Api, Api],
) -> None:
    fast, _ = twin_apps
    through_quart = quart_requests(fast.app)
    before = _served()
    body = _event("evt_below_quart")
    ok = await _post(fast, "/webhooks/stripe", body, _signed(body))
    assert ok.status == 200 and ok.body == {"received": True, "status": "ignored"}
    assert through_quart == []  # answered below Quart
    assert _served() == before + 1  # and counted under the route's rule, as Quart would
    repeat = await _post(fast, "/webhooks/stripe", body, _signed(body))
    assert repeat.body == {"received": True, "status": "duplicate"}
    assert through_quart == []
    refused = await _post(fast, "/webhooks/stripe", body, {"Stripe-Signature": "t=1,v1=00"})
    assert refused.status == 400 and refused.body["code"] == "webhook_signature_invalid"
    assert len(through_quart) == 1  # errors are Quart's to answer
    got = await fast.get("/webhooks/stripe", token=None)
    assert got.status == 405
    assert len(through_quart) == 2


async def test_a_body_sent_in_pieces_is_read_whole(twin_apps: tuple[Api, Api]) -> None:
    """An ASGI body in several messages (chunked, or a slow client) is one webhook."""
    fast, _ = twin_apps
    app = fast.app
    body = _event("evt_in_pieces")
    headers = [(k.lower().encode(), v.encode()) for k, v in _signed(body).items()]
    pieces: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.request", "body": body[10:], "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pieces.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/stripe",
        "raw_path": b"/webhooks/stripe",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 3700),
        "extensions": {},
    }
    await app.asgi_app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b'{"received":true,"status":"ignored"}'
    assert await ProviderEvent.filter(provider_event_id="evt_in_pieces").count() == 1
