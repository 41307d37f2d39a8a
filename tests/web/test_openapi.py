"""`/openapi.json` documents every route, and real answers match what it documents."""

from __future__ import annotations

from typing import Any

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource

from tests.support.api import Api

CONTRACT_ROUTES = {
    ("get", "/health"),
    ("get", "/internal/payments/providers"),
    ("get", "/internal/payments/pricing-items"),
    ("get", "/internal/payments/public/pricing-items"),
    ("post", "/internal/payments/pricing-items"),
    ("patch", "/internal/payments/pricing-items/{id}"),
    ("delete", "/internal/payments/pricing-items/{id}"),
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
