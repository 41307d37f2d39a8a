"""JSON answers serialized with orjson (fast, and datetimes/UUIDs handled the same way)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from quart import Response

from core.errors import ApiError


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)


def error_body(
    status: int, message: str, code: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The contract's error: `statusCode`, `error` (the HTTP phrase), `message`, `code`."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def error_response(error: ApiError) -> Response:
    details = None
    if error.details is not None:
        details = [{"field": d.field, "message": d.message} for d in error.details]
    return json_response(
        error_body(error.status_code, error.message, error.code, details), error.status_code
    )
