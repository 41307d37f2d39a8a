"""One strict JSON decoder for every JSON request body.

What the standard decoder lets through and the database or the hashing of a body
cannot take becomes a 400 here, before any handler runs: bytes that are not UTF-8,
NaN/Infinity, numbers that overflow a double (`1e400`), integers beyond 64 bits,
lone surrogates, NUL characters (PostgreSQL text refuses them) and nesting deeper
than `MAX_DEPTH` (deeper values cannot be serialised back).
"""

from __future__ import annotations

import json
import math
from typing import Any

from core.errors import ApiError, FieldProblem, ValidationFailed

MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def invalid_json(message: str) -> ApiError:
    return ApiError(message, code="invalid_json", status_code=400)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate"
    return None


def _path(parent: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{parent}[{part}]"
    return f"{parent}.{part}" if parent else part


def check_value(value: Any) -> list[FieldProblem]:
    """Every field of a decoded body the store could not take, without recursion."""
    problems: list[FieldProblem] = []
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise invalid_json(f"the request body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                reason = text_problem(key)
                if reason:
                    problems.append(FieldProblem(path or "body", f"key {reason}"))
                stack.append((_path(path, key), child, depth + 1))
        elif isinstance(item, list):
            stack.extend((_path(path, i), child, depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            reason = text_problem(item)
            if reason:
                problems.append(FieldProblem(path or "body", reason))
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                problems.append(FieldProblem(path or "body", "integer beyond 64 bits"))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(FieldProblem(path or "body", "number out of range"))
    return problems


def load_body(raw: bytes, charset: str | None = None) -> Any:
    """Decode a JSON body or raise the contract's 400 saying what is wrong with it."""
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise invalid_json(f"a JSON body must be UTF-8, not charset '{charset}'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_json("the request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_constant)
    except RecursionError:
        raise invalid_json(f"the request body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise invalid_json("the request body is not valid JSON") from None
    problems = check_value(value)
    if problems:
        raise ValidationFailed(
            problems,
            "invalid request body: " + "; ".join(f"{p.field}: {p.message}" for p in problems[:10]),
        )
    return value
