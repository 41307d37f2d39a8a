"""Property: whatever JSON or query a caller sends, the answer is a success or a 4xx JSON error.

Hypothesis throws arbitrary JSON values (deep, huge, non-finite, NUL-laden) at every JSON
route's body and arbitrary strings at every query parameter of the list routes and plan
status; a 5xx or a body outside the contract's error shape fails. Example counts are
modest so the suite stays within CI's time budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TOKEN
from tests.support.api import Api, Reply
from tests.web.test_bad_input import SANDBOX

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "code", "name", "kind", "unitAmount", "currency", "interval", "features", "metadata",
    "consumerKey", "consumerTenantId", "tenantName", "pricingItemCode", "successUrl",
]  # fmt: skip
BODIES = VALUES | st.dictionaries(st.sampled_from(FIELDS) | TEXT, VALUES, max_size=8)

JSON_ROUTES = [
    ("POST", "/internal/payments/pricing-items"),
    ("PATCH", "/internal/payments/pricing-items/starter_month"),
    ("POST", "/internal/payments/checkout-sessions"),
    ("POST", "/sandbox/inbox"),
]
LIST_QUERIES = {
    "/internal/payments/pricing-items": ["active", "kind", "public", "code", "limit", "cursor"],
    "/internal/payments/public/pricing-items": ["kind", "limit", "cursor"],
    "/internal/payments/purchases": [
        "consumerKey", "consumerTenantId", "status", "pricingItemCode", "limit", "cursor",
    ],
    "/internal/payments/subscriptions": [
        "consumerKey", "consumerTenantId", "status", "pricingItemCode", "limit", "cursor",
    ],
    "/internal/payments/event-deliveries": [
        "status", "consumerKey", "eventType", "limit", "cursor",
    ],
    "/internal/payments/tenants/tenant_1/plan-status": ["consumerKey"],
}  # fmt: skip


def assert_contract(reply: Reply) -> None:
    assert reply.status < 500, reply.raw
    if reply.status >= 400:
        assert reply.headers["content-type"].startswith("application/json"), reply.raw
        assert reply.body is not None
        assert set(reply.body) >= {"statusCode", "error", "message", "code"}
        assert reply.body["statusCode"] == reply.status


@pytest.fixture
async def sandbox(make_app: Callable[..., Any]) -> Api:
    return Api(await make_app(SANDBOX), TOKEN)


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@PROPERTY
@given(body=BODIES)
async def test_any_json_body_is_a_success_or_a_4xx(
    sandbox: Api, method: str, path: str, body: Any
) -> None:
    raw = json.dumps(body, allow_nan=True).encode()
    reply = await sandbox.request(
        method, path, data=raw, headers={"content-type": "application/json"}
    )
    assert_contract(reply)


@pytest.mark.parametrize("path", sorted(LIST_QUERIES))
@PROPERTY
@given(data=st.data())
async def test_any_query_is_a_success_or_a_4xx(sandbox: Api, path: str, data: Any) -> None:
    names = LIST_QUERIES[path]
    query = data.draw(st.dictionaries(st.sampled_from(names) | TEXT, TEXT, max_size=4))
    assert_contract(await sandbox.get(path, query=query))
