"""Error handlers: every failure, expected or not, answers the contract's JSON error.

Never an HTML page, never a traceback: an unexpected exception is logged with its
traceback on the server and answered as a bare 500 `internal_error`, except a lost
database connection, which is a 503 `database_unavailable` (`web.database_errors`).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError
from werkzeug.exceptions import HTTPException

from core.errors import ApiError, FieldProblem, ValidationFailed
from web.database_errors import database_unavailable_response, is_database_unavailable
from web.responses import error_body, error_response, json_response

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    404: "route_not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _field_problems(error: RequestSchemaValidationError) -> list[FieldProblem]:
    cause = error.validation_error
    if isinstance(cause, ValidationError):
        problems = []
        for item in cause.errors():
            path = ""
            for part in item["loc"]:
                path += (
                    f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
                )
            problems.append(FieldProblem(path or "body", item["msg"]))
        return problems
    return [FieldProblem("body", "must be a JSON object")]


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(error: RequestSchemaValidationError) -> Response:
        problems = _field_problems(error)
        if isinstance(error, QuerystringValidationError):
            message = "invalid query parameters: "
        elif isinstance(error, RequestHeadersValidationError):
            message = "invalid headers: "
        else:
            message = "invalid request body: "
        message += "; ".join(f"{p.field}: {p.message}" for p in problems)
        return error_response(ValidationFailed(problems, message))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        messages = {
            404: "no such route",
            405: "method not allowed on this route",
            413: "request body too large",
        }
        message = messages.get(status) or (error.description or HTTPException.__name__)
        headers = {}
        if status == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return json_response(error_body(status, message, code), status, headers)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        if is_database_unavailable(error):
            log.warning("database unavailable: %s: %s", type(error).__name__, error)
            return database_unavailable_response()
        log.exception("unhandled error", exc_info=error)
        return json_response(error_body(500, "internal error", "internal_error"), 500)
