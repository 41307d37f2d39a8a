"""`/openapi.json` beyond what quart-schema finds in the routes, and `GET /docs`.

`PaymentsOpenAPI` adds the OpenAPI 3.1 `webhooks` section, one `post` per normalized event
type (`core.events.EVENT_TYPES`), built from the pydantic models of `web.schemas.events`:
the body the dispatcher sends (`core.delivery.outbox.event_body`) and the headers a
consumer receives. It also documents the routes quart-schema is told to hide because they
do not answer JSON models of their own: `/metrics`, `/openapi.json` and `/docs`.

`GET /docs` is Swagger UI over the document, its assets served by this app from the
installed `swagger-ui-py` package (`docs/dependencies.md`): nothing is fetched from another
origin, and the Content-Security-Policy forbids it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from quart import Blueprint, Response, current_app
from quart_schema import hide
from quart_schema.openapi import OpenAPIProvider

from core.errors import NotFound
from web.schemas.common import ErrorBody
from web.schemas.events import EVENT_MODELS, DeliveryHeaders

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_REF = REF_TEMPLATE.format(model=ErrorBody.__name__)

DOCS_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
"""The files of the Swagger UI package that `/docs` uses, and their types."""

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""Only this origin: Swagger UI's own inline styles and data: icons, no inline script."""

DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"""

DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  tryItOutEnabled: false
});
"""
"""Swagger UI's start, a file of its own: the policy allows no inline script."""


def _text(content_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {content_type: {"schema": {"type": "string"}}}}


UNMODELLED_ROUTES: dict[str, dict[str, Any]] = {
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "description": "The Prometheus text format; public like /health (no tenant data).",
            "operationId": "get_metrics",
            "responses": {"200": _text("text/plain", "The metrics, Prometheus text format.")},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "description": "The OpenAPI 3.1 document of every route and every normalized event.",
            "operationId": "get_openapi",
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/docs": {
        "get": {
            "summary": "Browsable API documentation",
            "description": "Swagger UI over `/openapi.json`, served from this app's own files.",
            "operationId": "get_docs",
            "responses": {"200": _text("text/html", "The documentation page.")},
        }
    },
    "/docs/assets/{name}": {
        "get": {
            "summary": "A file of the documentation page",
            "operationId": "get_docs_asset",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "The file (CSS, JavaScript or an icon)."},
                "404": {
                    "description": "Not one of the page's files.",
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                },
            },
        }
    },
}
"""Routes hidden from quart-schema's discovery (they answer no JSON model), documented here."""


def _header_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Header parameters from a pydantic model's fields (alias = header name)."""
    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in model.model_fields.items():
        header = field.alias or name
        prop = dict(properties[header])
        description = prop.pop("description", None)
        prop.pop("title", None)
        prop.pop("default", None)
        if "anyOf" in prop:  # `str | None`: the header is absent, never null
            prop = next(p for p in prop["anyOf"] if p.get("type") != "null")
        parameter: dict[str, Any] = {
            "name": header,
            "in": "header",
            "required": header in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


@cache
def webhooks_section() -> tuple[dict[str, Any], dict[str, Any]]:
    """The `webhooks` section and the component schemas it (and `UNMODELLED_ROUTES`) refer to."""
    models = [(model, "serialization") for model in EVENT_MODELS.values()]
    refs, definitions = models_json_schema(
        [*models, (DeliveryHeaders, "serialization"), (ErrorBody, "serialization")],  # type: ignore[list-item]
        ref_template=REF_TEMPLATE,
    )
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    headers_schema = components.pop(DeliveryHeaders.__name__)
    parameters = _header_parameters(DeliveryHeaders, headers_schema)
    section: dict[str, Any] = {}
    for event_type, model in EVENT_MODELS.items():
        section[event_type] = {
            "post": {
                "summary": f"The `{event_type}` event, sent to its consumer",
                "description": (model.__doc__ or "").strip()
                + " POSTed to the URL configured for the event's `consumerKey`, at least "
                "once: dedupe on `webhook-id`.",
                "operationId": "event_" + event_type.replace(".", "_"),
                "tags": ["events"],
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(model, "serialization")]}},
                },
                "responses": {
                    "2XX": {"description": "Taken; the delivery is done."},
                    "410": {"description": "The endpoint is gone: no further automatic attempts."},
                    "default": {"description": "Anything else is retried with backoff."},
                },
            }
        }
    return section, components


class PaymentsOpenAPI(OpenAPIProvider):
    """quart-schema's document, plus the webhooks and the routes it does not see."""

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        for path, item in UNMODELLED_ROUTES.items():
            document["paths"].setdefault(path, {}).update(item)
        for methods in document["paths"].values():
            for operation in methods.values():
                if not operation.get("responses"):  # a plugin's route without documented answers
                    operation["responses"] = {"default": {"description": "Not documented."}}
        section, components = webhooks_section()
        schemas: dict[str, Any] = document["components"]["schemas"]
        for name, definition in components.items():
            if schemas.setdefault(name, definition) != definition:
                raise RuntimeError(f"two different schemas named {name!r} in /openapi.json")
        document["webhooks"] = section
        return document


blueprint = Blueprint("docs", __name__)


@cache
def _assets_dir() -> Path:
    """Swagger UI's files in the installed package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; /docs needs it")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@blueprint.get("/docs")
@hide
async def docs() -> Response:
    """Swagger UI over `/openapi.json`."""
    title = current_app.extensions["QUART_SCHEMA"].info.title
    return Response(DOCS_HTML.format(title=title), mimetype="text/html", headers=DOCS_HEADERS)


@blueprint.get("/docs/assets/<name>")
@hide
async def docs_asset(name: str) -> Response:
    """One of the page's files: the package's, or the page's start (`init.js`)."""
    headers = {**DOCS_HEADERS, "Cache-Control": "public, max-age=3600"}
    if name == "init.js":
        return Response(DOCS_INIT, mimetype="text/javascript", headers=headers)
    content_type = DOCS_ASSETS.get(name)
    if content_type is None:
        raise NotFound(f"no documentation file '{name}'", code="route_not_found")
    body = (_assets_dir() / name).read_bytes()
    return Response(body, content_type=content_type, headers=headers)
