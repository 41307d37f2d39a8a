"""Stripe's OpenAPI description, loaded and indexed once per test session.

`operation(method, path)` finds the spec's operation for a concrete request path, and
`Operation.validate(params)` checks decoded parameters against its request schema with
`openapi-schema-validator` over a `referencing` registry of the whole file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SHARED = Path(os.environ.get("PAYMENTS_STRIPE_SPEC_DIR", "/work/shared/stripe"))
SPEC_FILE = SHARED / "spec3.json"
FIXTURES_FILE = SHARED / "fixtures3.json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    body_schema: dict[str, Any] | None
    query_names: frozenset[str]

    def validate(self, params: dict[str, Any]) -> list[str]:
        """Every problem with these parameters, as readable lines (empty: valid)."""
        if self.method == "get":
            unknown = sorted(set(params) - self.query_names)
            return [f"unknown query parameter '{name}'" for name in unknown]
        if self.body_schema is None:
            return [f"{self.method.upper()} {self.template} takes no body"] if params else []
        validator = spec().root.evolve(schema=self.body_schema)
        return [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
            for error in sorted(validator.iter_errors(params), key=lambda e: list(e.path))
        ]


@dataclass(frozen=True)
class Spec:
    document: dict[str, Any]
    root: Any
    """A validator whose root is the whole document, so `#/components/...` refs resolve."""
    routes: tuple[tuple[re.Pattern[str], str], ...]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow `$ref`s to the schema they name."""
        while "$ref" in schema:
            resolved = self.root._resolver.lookup(schema["$ref"])
            schema = resolved.contents
        return schema

    def operation(self, method: str, path: str) -> Operation | None:
        for pattern, template in self.routes:
            if pattern.fullmatch(path):
                item = self.document["paths"][template].get(method)
                if item is None:
                    return None
                return _operation(method, template, item)
        return None

    def is_valid(self, schema: dict[str, Any], value: Any) -> bool:
        return bool(self.root.evolve(schema=schema).is_valid(value))


def _operation(method: str, template: str, item: dict[str, Any]) -> Operation:
    body = item.get("requestBody", {}).get("content", {}).get(FORM, {}).get("schema")
    queries = frozenset(p["name"] for p in item.get("parameters", []) if p.get("in") == "query")
    return Operation(method, template, body, queries)


@cache
def spec() -> Spec:
    """The parsed spec with its validator and path index (built once per process)."""
    document = json.loads(SPEC_FILE.read_text())
    registry: Registry[Any] = Registry().with_resource(
        "urn:stripe:spec3", Resource.from_contents(document, default_specification=DRAFT4)
    )
    root = OAS30Validator(document, registry=registry)
    routes = []
    # Literal paths before templated ones, so /v1/checkout/sessions wins over /{id}.
    for template in sorted(document["paths"], key=lambda t: (t.count("{"), t)):
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", pattern)
        routes.append((re.compile(pattern), template))
    return Spec(document, root, tuple(routes))


@cache
def fixtures() -> dict[str, Any]:
    """Stripe's example objects by object name (`checkout.session`, `customer`, ...)."""
    loaded: dict[str, Any] = json.loads(FIXTURES_FILE.read_text())["resources"]
    return loaded
