"""Signed webhooks that no column could store, or signed far from now: 400, nothing stored.

Through the real route and ingest, for Stripe (signed as Stripe signs) and the sandbox (its
own signature), on SQLite and PostgreSQL alike (PostgreSQL text refuses NUL; SQLite would
take it, and is held to the same rule so the backends never disagree).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sandbox_provider import signing
from sandbox_provider.settings import DEVELOPMENT_WEBHOOK_SECRET

from core.models import ProviderEvent, Subscription
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api, Reply
from tests.support.webhooks import SECRET

T0 = 1_790_000_000
JSON = {"content-type": "application/json"}
PLUGINS = f"""
[providers.stripe]
plugin = "stripe"
default = true
secret_key = "sk_test_x"
webhook_secrets = "{SECRET}"

[providers.sandbox]
plugin = "sandbox"
public_url = "http://127.0.0.1:1"

[consumers.funnel]
plugin = "funnel"
"""


@pytest.fixture
async def hooks(make_app: Callable[..., Any]) -> Api:
    return Api(await make_app(PLUGINS), TOKEN)


async def post_stripe(api: Api, body: bytes, timestamp: int | None = None) -> Reply:
    headers = {"Stripe-Signature": se.sign(body, SECRET, timestamp), **JSON}
    return await api.post("/webhooks/stripe", data=body, headers=headers, token=None)


async def post_sandbox(api: Api, body: bytes, timestamp: int | None = None) -> Reply:
    header = signing.sign(body, DEVELOPMENT_WEBHOOK_SECRET, timestamp)
    headers = {signing.SIGNATURE_HEADER: header, **JSON}
    return await api.post("/webhooks/sandbox", data=body, headers=headers, token=None)


def refused(reply: Reply, code: str) -> None:
    assert reply.status == 400, reply.raw
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.body["statusCode"] == 400
    assert reply.body["code"] == code, reply.body


def plain(event_id: str, event_type: str) -> bytes:
    return orjson.dumps({"id": event_id, "type": event_type, "created": T0, "data": {}})


def subscription_created(sub: str, tenant: str) -> bytes:
    obj = se.subscription(
        sub,
        status="active",
        customer="cus_1",
        period_start=T0,
        period_end=T0 + 86400,
        metadata=se.tenant_metadata(tenant, "starter_month"),
    )
    return se.encode(se.event("customer.subscription.created", obj, created=T0))


UNSTORABLE = [
    pytest.param(plain("evt_" + "x" * 252, "thing.happened"), id="id-256"),
    pytest.param(plain("evt_1", "t" * 121), id="type-121"),
    pytest.param(plain("evt_\x00", "thing.happened"), id="nul-in-id"),
    pytest.param(plain("evt_2", "thing.\x00"), id="nul-in-type"),
    pytest.param(subscription_created("sub_\x00", "tenant_1"), id="nul-in-a-provider-id"),
    pytest.param(subscription_created("sub_1", "tenant\x00"), id="nul-in-metadata"),
    pytest.param(subscription_created("s" * 256, "tenant_1"), id="provider-id-256"),
]


@pytest.mark.parametrize("body", UNSTORABLE)
async def test_a_signed_stripe_event_no_column_can_store_is_400(hooks: Api, body: bytes) -> None:
    refused(await post_stripe(hooks, body), "webhook_payload_invalid")
    assert await ProviderEvent.all().count() == 0
    assert await Subscription.all().count() == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(plain("evt_sbx_" + "x" * 248, "invoice.paid"), id="id-256"),
        pytest.param(plain("evt_sbx_1", "t" * 121), id="type-121"),
        pytest.param(plain("evt_sbx_\x00", "invoice.paid"), id="nul-in-id"),
    ],
)
async def test_a_signed_sandbox_event_no_column_can_store_is_400(hooks: Api, body: bytes) -> None:
    refused(await post_sandbox(hooks, body), "webhook_payload_invalid")
    assert await ProviderEvent.all().count() == 0


async def test_the_longest_storable_event_is_accepted(hooks: Api) -> None:
    reply = await post_stripe(hooks, plain("evt_" + "x" * 251, "t" * 120))
    assert (reply.status, reply.body["status"]) == (200, "ignored")
    assert await ProviderEvent.all().count() == 1


FUTURE = [
    pytest.param(lambda: 10**30, id="10**30"),
    pytest.param(lambda: 2**62, id="2**62"),
    pytest.param(lambda: 2**64, id="2**64"),
    pytest.param(lambda: int(time.time()) + 3600, id="an-hour-ahead"),
]


@pytest.mark.parametrize("when", FUTURE)
async def test_a_signature_from_beyond_the_tolerance_ahead_is_refused(
    hooks: Api, when: Callable[[], int]
) -> None:
    stripe = await post_stripe(hooks, plain("evt_future", "thing.happened"), when())
    refused(stripe, "webhook_signature_invalid")
    assert "in the future" in stripe.body["message"]
    sandbox = await post_sandbox(hooks, plain("evt_sbx_future", "invoice.paid"), when())
    refused(sandbox, "webhook_signature_invalid")
    assert "in the future" in sandbox.body["message"]
    assert await ProviderEvent.all().count() == 0


async def test_a_signature_a_little_ahead_is_within_the_tolerance(hooks: Api) -> None:
    """Clocks differ by seconds: a timestamp inside the tolerance ahead is accepted."""
    ahead = int(time.time()) + 60
    stripe = await post_stripe(hooks, plain("evt_ahead", "thing.happened"), ahead)
    assert (stripe.status, stripe.body["status"]) == (200, "ignored")
    sandbox = await post_sandbox(hooks, plain("evt_sbx_ahead", "customer.created"), ahead)
    assert (sandbox.status, sandbox.body["status"]) == (200, "ignored")
