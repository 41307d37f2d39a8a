"""`/openapi.json` documents every route and every normalized event, and is valid OpenAPI
3.1; real answers match what it documents; `/docs` shows it from this app's own files."""

from __future__ import annotations

import re
from typing import Any

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_document
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from referencing import Registry, Resource

from core.events import EVENT_TYPES
from tests.support.api import Api

CONTRACT_ROUTES = {
    ("get", "/health"),
    ("get", "/internal/payments/providers"),
    ("get", "/internal/payments/pricing-items"),
    ("get", "/internal/payments/public/pricing-items"),
    ("post", "/internal/payments/pricing-items"),
    ("patch", "/internal/payments/pricing-items/{id}"),
    ("delete", "/internal/payments/pricing-items/{id}"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
}
DELIVERY_HEADERS = {
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-platform-internal-token",
}


async def openapi(api: Api) -> dict[str, Any]:
    reply = await api.get("/openapi.json", token=None)
    assert reply.status == 200
    document: dict[str, Any] = reply.body
    return document


def response_validator(
    document: dict[str, Any], path: str, method: str, status: int
) -> OAS31Validator:
    schema = document["paths"][path][method]["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    registry = Registry().with_resource("urn:openapi", Resource.opaque(document))
    wrapped = {**schema, "components": document.get("components", {})}
    return OAS31Validator(wrapped, registry=registry)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    registry = Registry().with_resource("urn:openapi", Resource.opaque(document))
    return OAS31Validator(
        {**schema, "components": document.get("components", {})}, registry=registry
    )


def event_validator(document: dict[str, Any], event_type: str) -> OAS31Validator:
    """The schema of the body a consumer receives for one normalized event type."""
    body = document["webhooks"][event_type]["post"]["requestBody"]
    return _validator(document, body["content"]["application/json"]["schema"])


def event_schema(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    ref: str = document["webhooks"][event_type]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


async def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    document = await openapi(api)
    assert document["openapi"].startswith("3.1")
    validate_document(document, cls=OpenAPIV31SpecValidator)


async def test_every_normalized_event_type_is_a_webhook(api: Api) -> None:
    document = await openapi(api)
    assert set(document["webhooks"]) == set(EVENT_TYPES)
    records = {
        "checkout": "checkoutSession",
        "purchase": "purchase",
        "subscription": "subscription",
        "invoice": "invoice",
        "dispute": "dispute",
    }
    for event_type in EVENT_TYPES:
        post = document["webhooks"][event_type]["post"]
        assert {p["name"] for p in post["parameters"] if p["in"] == "header"} == DELIVERY_HEADERS
        schema = event_schema(document, event_type)
        assert set(schema["required"]) == {
            "id",
            "type",
            "occurredAt",
            "providerKey",
            "providerEventId",
            "consumerKey",
            "consumerTenantId",
            "data",
        }
        assert schema["properties"]["type"]["const"] == event_type
        data_ref = schema["properties"]["data"]["$ref"].rsplit("/", 1)[1]
        data = document["components"]["schemas"][data_ref]
        record = records[event_type.split(".")[0]]
        assert set(data["required"]) == {record, "pricingItemCode"}
        assert data["properties"][record]["$ref"].endswith("Out")
        validator = event_validator(document, event_type)
        assert not validator.is_valid({"type": event_type, "data": {}})


async def test_docs_page_uses_only_this_apps_assets(api: Api) -> None:
    page = await api.get("/docs", token=None)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    html = page.raw.decode()
    assert "<title>platform-payments" in html
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert referenced and all(url.startswith("/docs/assets/") for url in referenced), referenced
    assert "<script>" not in html  # no inline script: the policy would refuse it
    for url in referenced:
        asset = await api.get(url, token=None)
        assert asset.status == 200, url
        assert len(asset.raw) > 10, url
    bundle = await api.get("/docs/assets/swagger-ui-bundle.js", token=None)
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.raw
    start = (await api.get("/docs/assets/init.js", token=None)).raw.decode()
    assert '"/openapi.json"' in start and "http" not in start
    missing = await api.get("/docs/assets/..%2fcore.py", token=None)
    assert missing.status == 404
    assert (await api.get("/docs/assets/LICENSE", token=None)).status == 404


async def test_every_route_is_documented_with_schemas(api: Api) -> None:
    document = await openapi(api)
    documented = {
        (method, path) for path, methods in document["paths"].items() for method in methods
    }
    assert documented >= CONTRACT_ROUTES
    post = document["paths"]["/internal/payments/pricing-items"]["post"]
    assert "requestBody" in post
    assert "201" in post["responses"]
    assert "internalToken" in document["components"]["securitySchemes"]


async def test_answers_match_the_documented_schemas(api: Api) -> None:
    document = await openapi(api)
    created = await api.post(
        "/internal/payments/pricing-items",
        json={
            "code": "c1",
            "name": "C",
            "kind": "one_time",
            "unitAmount": 5,
            "currency": "usd",
            "public": True,
        },
    )
    checks = [
        ("/internal/payments/pricing-items", "post", 201, created.body),
        (
            "/internal/payments/pricing-items",
            "get",
            200,
            (await api.get("/internal/payments/pricing-items")).body,
        ),
        (
            "/internal/payments/public/pricing-items",
            "get",
            200,
            (await api.get("/internal/payments/public/pricing-items")).body,
        ),
        (
            "/internal/payments/providers",
            "get",
            200,
            (await api.get("/internal/payments/providers")).body,
        ),
        ("/health", "get", 200, (await api.get("/health")).body),
    ]
    for path, method, status, body in checks:
        response_validator(document, path, method, status).validate(body)
    error = await api.patch("/internal/payments/pricing-items/missing", json={"name": "x"})
    response_validator(document, "/internal/payments/pricing-items/{id}", "patch", 404).validate(
        error.body
    )
