"""The webhook fast path returns the request id, and each webhook's outcome line carries it:
ignored, duplicate, refused (with its reason code, never the signature)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from core.config import Settings
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.fast_paths import quart_requests
from tests.support.logs import captured_logs
from tests.support.webhooks import SECRET
from web.app import create_app

HEX32 = re.compile(r"[0-9a-f]{32}")


def _requests(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "request"]


async def test_the_webhook_fast_path_returns_and_logs_the_request_id(
    database: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
    app = create_app(settings, connect_database=False)
    async with app.test_app():
        api = Api(app, TOKEN)
        quart_saw = quart_requests(app)
        payload = se.event("customer.created", se.fixture("customer"), created=int(time.time()))
        body = se.encode(payload)
        signed = {"Stripe-Signature": se.sign(body, SECRET), "content-type": "application/json"}
        with captured_logs() as logs:
            good = await api.post(
                "/webhooks/stripe",
                data=body,
                token=None,
                headers={**signed, "x-request-id": "wh-1"},
            )
            again = await api.post("/webhooks/stripe", data=body, token=None, headers=signed)
            refused = await api.post(
                "/webhooks/stripe",
                data=body,
                token=None,
                headers={"Stripe-Signature": "t=1,v1=00", "x-request-id": "wh-bad"},
            )
    assert (good.status, again.status, refused.status) == (200, 200, 400)
    assert len(quart_saw) == 1  # only the refused one went on to Quart's route
    assert good.headers["x-request-id"] == "wh-1"
    assert HEX32.fullmatch(again.headers["x-request-id"])
    assert refused.headers["x-request-id"] == "wh-bad"
    lines = logs.lines()
    hooks = [line for line in lines if line.get("event") == "webhook"]
    assert [(h["request_id"], h["outcome"]) for h in hooks] == [
        ("wh-1", "ignored"),
        (again.headers["x-request-id"], "duplicate"),
        ("wh-bad", "refused"),
    ]
    assert hooks[0]["provider_event_id"] == payload["id"]
    assert hooks[0]["type"] == "customer.created"
    assert hooks[0]["provider_key"] == "stripe"
    assert hooks[2]["code"] == "webhook_signature_invalid"
    requests = _requests(lines)
    assert [(r["request_id"], r["route"], r["status"]) for r in requests] == [
        ("wh-1", "/webhooks/<provider_key>", 200),
        (again.headers["x-request-id"], "/webhooks/<provider_key>", 200),
        ("wh-bad", "/webhooks/<provider_key>", 400),
    ]
    assert signed["Stripe-Signature"] not in logs.text
    assert "t=1,v1=00" not in logs.text
