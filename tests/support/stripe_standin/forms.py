"""Stripe's form encoding back into nested values, typed by the spec's schema.

The SDK sends `line_items[0][price]=price_1&subscription_data[trial_period_days]=14`;
this decodes it into `{"line_items": [{"price": "price_1"}], "subscription_data":
{"trial_period_days": 14}}`, so it can be validated as Stripe would.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from tests.support.stripe_standin.spec import Spec

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_INTEGER = re.compile(r"^-?\d+$")


def decode(body: str) -> dict[str, Any]:
    """Nested dicts from bracketed keys; lists stay dicts keyed by index until typed."""
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(raw_key)
        if not match:
            raise ValueError(f"unparseable parameter name {raw_key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"parameter {raw_key!r} conflicts with a plain value")
            node = child
        node[parts[-1]] = value
    return result


def coerce(value: Any, schema: dict[str, Any] | None, spec: Spec) -> Any:
    """Form strings as the schema's types: integers, numbers, booleans, arrays."""
    if not schema:
        return value
    schema = spec.resolve(schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        for option in options:
            candidate = coerce(value, option, spec)
            if spec.is_valid(option, candidate):
                return candidate
        return value
    kind = schema.get("type")
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        coerced = {}
        for key, item in value.items():
            sub = properties.get(key) or (extra if isinstance(extra, dict) else None)
            coerced[key] = coerce(item, sub, spec)
        return coerced
    if kind == "array":
        if isinstance(value, dict) and all(_INTEGER.match(k) for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if isinstance(value, list):
            return [coerce(item, schema.get("items"), spec) for item in value]
        return value
    if isinstance(value, str):
        if kind == "integer" and _INTEGER.match(value):
            return int(value)
        if kind == "number":
            try:
                return float(value)
            except ValueError:
                return value
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value
