"""Bad input never gets a 500: each case answers the contract's 4xx JSON error, stores nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import TOKEN
from tests.support.api import Api, Reply
from tests.support.catalog import starter_item

ITEMS = "/internal/payments/pricing-items"
SESSIONS = "/internal/payments/checkout-sessions"
DELIVERIES = "/internal/payments/event-deliveries"
CONTROLS = "/internal/payments/sandbox"
JSON = {"content-type": "application/json"}

SANDBOX = """
[providers.sandbox]
plugin = "sandbox"
default = true
public_url = "http://127.0.0.1:1"

[consumers.funnel]
plugin = "funnel"
"""


def item(**overrides: Any) -> dict[str, Any]:
    return starter_item(**{"features": {"funnels": 5}, "metadata": {"tier": "1"}, **overrides})


def checkout(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_1",
        "tenantName": "Tenant One",
        "pricingItemCode": "starter_month",
        "successUrl": "https://app.example/ok",
        "cancelUrl": "https://app.example/cancel",
    }
    body.update(overrides)
    return body


def assert_error(reply: Reply, status: int, code: str | None = None) -> None:
    assert reply.status == status, reply.raw
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.body is not None
    assert set(reply.body) >= {"statusCode", "error", "message", "code"}
    assert reply.body["statusCode"] == status
    if code is not None:
        assert reply.body["code"] == code, reply.body


async def nothing_stored(api: Api) -> None:
    listed = await api.get(ITEMS)
    assert listed.status == 200
    assert listed.body["data"] == []


@pytest.fixture
async def sandbox(make_app: Callable[..., Any]) -> Api:
    return Api(await make_app(SANDBOX), TOKEN)


JSON_ROUTES = [
    ("POST", ITEMS),
    ("PATCH", f"{ITEMS}/starter_month"),
    ("POST", SESSIONS),
    ("POST", "/sandbox/inbox"),
]


# 1. bodies that are not UTF-8


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_body_that_is_not_utf8_is_400(sandbox: Api, method: str, path: str) -> None:
    reply = await sandbox.request(method, path, data=b'{"name": "\xff\xfe"}', headers=JSON)
    assert_error(reply, 400, "invalid_json")
    await nothing_stored(sandbox)


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_non_utf8_charset_is_400(sandbox: Api, method: str, path: str) -> None:
    body = '{"code": "x"}'.encode("utf-16")
    headers = {"content-type": "application/json; charset=utf-16"}
    assert_error(await sandbox.request(method, path, data=body, headers=headers), 400)


async def test_a_utf8_charset_is_accepted(api: Api) -> None:
    import orjson

    headers = {"content-type": "application/json; charset=UTF-8"}
    reply = await api.post(ITEMS, data=orjson.dumps(item()), headers=headers)
    assert reply.status == 201, reply.raw


# 2. deep nesting


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_json_nested_a_thousand_levels_is_400(sandbox: Api, method: str, path: str) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    body = b'{"code": "a", "features": {"x": ' + deep + b"}}"
    assert_error(await sandbox.request(method, path, data=body, headers=JSON), 400, "invalid_json")
    await nothing_stored(sandbox)


# 3. numbers


@pytest.mark.parametrize("field", ["features", "metadata"])
async def test_an_integer_beyond_64_bits_is_validation_failed(api: Api, field: str) -> None:
    reply = await api.post(ITEMS, json=item(**{field: {"big": 2**64}}))
    assert_error(reply, 400, "validation_failed")
    assert reply.body is not None and reply.body["details"][0]["field"] == f"{field}.big"
    await nothing_stored(api)


async def test_a_big_integer_under_an_idempotency_key_is_validation_failed(api: Api) -> None:
    reply = await api.post(ITEMS, json=item(extra=10**30), headers={"Idempotency-Key": "k-big"})
    assert_error(reply, 400, "validation_failed")
    await nothing_stored(api)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_non_finite_numbers_are_400(
    sandbox: Api, method: str, path: str, literal: bytes
) -> None:
    body = b'{"code": "n", "features": {"x": ' + literal + b"}}"
    assert_error(await sandbox.request(method, path, data=body, headers=JSON), 400)
    await nothing_stored(sandbox)


# 4. NUL characters


@pytest.mark.parametrize(
    "body",
    [item(name="Sta\x00rter"), item(features={"a\x00b": 1}), item(metadata={"t": "\x00"})],
)
async def test_a_nul_in_a_json_string_or_key_is_validation_failed(
    api: Api, body: dict[str, Any]
) -> None:
    assert_error(await api.post(ITEMS, json=body), 400, "validation_failed")
    await nothing_stored(api)


async def test_a_nul_in_tenant_name_never_reaches_the_provider(api: Api) -> None:
    assert (await api.post(ITEMS, json=item())).status == 201
    reply = await api.post(SESSIONS, json=checkout(tenantName="Ten\x00ant"))
    assert_error(reply, 400, "validation_failed")


@pytest.mark.parametrize(
    "path",
    [
        f"{ITEMS}?code=a%00b",
        f"{ITEMS}?a%00=1",
        f"{DELIVERIES}?status=%00",
        "/internal/payments/purchases?consumerTenantId=%00",
        "/internal/payments/subscriptions?consumerTenantId=%00",
        "/internal/payments/tenants/t%00x/plan-status",
        "/internal/payments/tenants/t/plan-status?consumerKey=%00",
    ],
)
async def test_a_nul_in_a_query_or_path_is_validation_failed(api: Api, path: str) -> None:
    assert_error(await api.get(path), 400, "validation_failed")


async def test_a_nul_in_a_path_id_is_validation_failed(api: Api) -> None:
    assert_error(await api.delete(f"{ITEMS}/a%00b"), 400, "validation_failed")
    assert_error(await api.get(f"{SESSIONS}/cs%00x"), 400, "validation_failed")


# 5. over-long and junk path ids


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", f"{ITEMS}/{'a' * 65}"),
        ("DELETE", f"{ITEMS}/{'a' * 65}"),
        ("DELETE", f"{ITEMS}/{'a' * 300}"),
        ("GET", f"{SESSIONS}/{'c' * 256}"),
        ("GET", f"{DELIVERIES}/junk"),
        ("GET", f"{DELIVERIES}/{'9' * 300}"),
        ("POST", f"{DELIVERIES}/junk/retry"),
        ("POST", f"{DELIVERIES}/{'x' * 256}/retry"),
        ("GET", "/internal/payments/tenants/" + "t" * 256 + "/plan-status"),
        ("POST", f"{CONTROLS}/subscriptions/{'s' * 256}/renew"),
        ("POST", f"{CONTROLS}/subscriptions/{'s' * 256}/fail-next-payment"),
        ("POST", f"{CONTROLS}/subscriptions/{'s' * 256}/cancel"),
        ("POST", f"{CONTROLS}/checkout-sessions/{'s' * 256}/expire"),
        ("POST", f"/sandbox/checkout/{'s' * 256}/pay"),
        ("POST", f"/sandbox/checkout/{'s' * 256}/decline"),
        ("POST", f"/sandbox/checkout/{'s' * 256}/cancel"),
    ],
)
async def test_a_long_or_junk_path_id_is_a_json_4xx(sandbox: Api, method: str, path: str) -> None:
    json = {"name": "x"} if method == "PATCH" else None
    reply = await sandbox.request(method, path, json=json)
    assert 400 <= reply.status < 500, reply.raw
    assert_error(reply, reply.status)


async def test_the_public_sandbox_page_with_a_long_id_is_not_a_500(sandbox: Api) -> None:
    reply = await sandbox.get(f"/sandbox/checkout/{'s' * 256}", token=None)
    assert reply.status == 404, reply.raw


# 7. cursors of another list


async def test_a_cursor_of_another_list_is_400(api: Api) -> None:
    for code in ("a_one", "a_two"):
        assert (await api.post(ITEMS, json=item(code=code))).status == 201
    first = await api.get(ITEMS, query={"limit": 1})
    cursor = first.body["nextCursor"]
    assert cursor
    assert (await api.get(ITEMS, query={"limit": 1, "cursor": cursor})).status == 200
    for other in ("purchases", "subscriptions", "event-deliveries", "public/pricing-items"):
        reply = await api.get(f"/internal/payments/{other}", query={"cursor": cursor})
        assert_error(reply, 400, "validation_failed")


async def test_junk_that_decodes_as_a_cursor_is_400(api: Api) -> None:
    import base64

    import orjson

    for junk in ([["s", "x"], ["s", "y"]], ["", [["i", 1], ["i", 2]]], {"a": 1}):
        cursor = base64.urlsafe_b64encode(orjson.dumps(junk)).decode().rstrip("=")
        reply = await api.get("/internal/payments/purchases", query={"cursor": cursor})
        assert_error(reply, 400, "validation_failed")


# 8. list filters longer than their column, and integers that are not plain ASCII digits

LONGER_THAN_THE_COLUMN = [
    (ITEMS, "providerKey", 40),
    (DELIVERIES, "consumerKey", 64),
    (DELIVERIES, "eventType", 64),
    ("/internal/payments/purchases", "consumerKey", 64),
    ("/internal/payments/purchases", "consumerTenantId", 255),
    ("/internal/payments/purchases", "pricingItemCode", 64),
    ("/internal/payments/subscriptions", "consumerKey", 64),
    ("/internal/payments/subscriptions", "consumerTenantId", 255),
    ("/internal/payments/subscriptions", "pricingItemCode", 64),
    ("/internal/payments/tenants/t/plan-status", "consumerKey", 64),
]


@pytest.mark.parametrize(("path", "name", "column"), LONGER_THAN_THE_COLUMN)
async def test_a_list_filter_longer_than_its_column_is_validation_failed(
    api: Api, path: str, name: str, column: int
) -> None:
    """A value the column can never hold is a 400 naming the filter, not a query: Tortoise
    refuses it as a filter value (a 500 on both backends, before this was checked)."""
    assert (await api.get(path, query={name: "k" * column})).status == 200
    for value in ("k" * (column + 1), "k" * 10_000, "k\x00k"):
        reply = await api.get(path, query={name: value})
        assert_error(reply, 400, "validation_failed")
        assert [d["field"] for d in reply.body["details"]] == [name]


NOT_ASCII_DIGITS = ["١٢", "+5", " 5", "5 ", "5_0", "²", "0x10", "5.0", "", "9" * 5000]


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
@pytest.mark.parametrize(
    "path",
    [
        ITEMS,
        "/internal/payments/public/pricing-items",
        "/internal/payments/purchases",
        "/internal/payments/subscriptions",
        DELIVERIES,
        "/sandbox/inbox",
    ],
)
async def test_an_integer_query_parameter_takes_ascii_digits_only(
    sandbox: Api, path: str, value: str
) -> None:
    """Python's int() takes Arabic-Indic digits, a sign, spaces and underscores; a caller's
    `limit` is plain digits or a 400 naming it."""
    assert (await sandbox.get(path, query={"limit": "12"})).status == 200
    reply = await sandbox.get(path, query={"limit": value})
    assert_error(reply, 400, "validation_failed")
    assert [d["field"] for d in reply.body["details"]] == ["limit"]


# 9. sandbox ids longer than any the sandbox stores (64), shorter than the guard's 255

SANDBOX_LONG_ID = "s" * 65


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        (
            "POST",
            f"{CONTROLS}/subscriptions/sub_{SANDBOX_LONG_ID}/renew",
            "sandbox_subscription_not_found",
        ),
        (
            "POST",
            f"{CONTROLS}/subscriptions/sub_{SANDBOX_LONG_ID}/fail-next-payment",
            "sandbox_subscription_not_found",
        ),
        (
            "POST",
            f"{CONTROLS}/subscriptions/sub_{SANDBOX_LONG_ID}/cancel",
            "sandbox_subscription_not_found",
        ),
        (
            "POST",
            f"{CONTROLS}/checkout-sessions/cs_{SANDBOX_LONG_ID}/expire",
            "checkout_session_not_found",
        ),
    ],
)
async def test_a_sandbox_control_with_a_too_long_id_is_404_without_a_query(
    sandbox: Api, caplog: pytest.LogCaptureFixture, method: str, path: str, code: str
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        reply = await sandbox.request(method, path)
    assert_error(reply, 404, code)
    assert not _sandbox_queries(caplog)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/sandbox/checkout/cs_{SANDBOX_LONG_ID}"),
        ("POST", f"/sandbox/checkout/cs_{SANDBOX_LONG_ID}/pay"),
        ("POST", f"/sandbox/checkout/cs_{SANDBOX_LONG_ID}/decline"),
        ("POST", f"/sandbox/checkout/cs_{SANDBOX_LONG_ID}/cancel"),
        ("GET", f"/sandbox/checkout/{'s' * 255}"),
    ],
)
async def test_the_sandbox_page_with_a_too_long_id_is_its_404_without_a_query(
    sandbox: Api, caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        reply = await sandbox.request(method, path, token=None)
    assert reply.status == 404, reply.raw
    assert reply.headers["content-type"].startswith("text/html")
    assert b"Checkout not found" in reply.raw
    assert not _sandbox_queries(caplog)


async def test_the_sandbox_return_page_with_a_too_long_session_id_is_not_a_500(
    sandbox: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        reply = await sandbox.get(
            "/sandbox/return", query={"session_id": SANDBOX_LONG_ID}, token=None
        )
    assert reply.status == 200 and b"unknown" in reply.raw, reply.raw
    assert not _sandbox_queries(caplog)


def _sandbox_queries(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The SQL Tortoise logged against the sandbox's table (its client logs every query)."""
    return [r.getMessage() for r in caplog.records if "sandbox_objects" in r.getMessage()]
