"""One check of every path parameter and query string before any handler runs.

Ids and filters end up in SQL: a NUL character (PostgreSQL text refuses it) or a lone
surrogate is a 400 `validation_failed`; a path id longer than any stored id
(`MAX_PATH_PARAM`) cannot name anything, so it is a 404 `not_found` without a query.
"""

from __future__ import annotations

from quart import Quart, request

from core.errors import FieldProblem, NotFound, ValidationFailed
from web.json_body import text_problem

MAX_PATH_PARAM = 255
"""The longest id any table stores (provider ids are `varchar(255)`)."""

ENDPOINT_LIMITS = {
    "pricing.update_pricing_item": 64,
    "pricing.archive_pricing_item": 64,
}
"""Routes whose id is shorter: a pricing item is named by its UUID or its code (64)."""


def path_param_problem(value: str) -> str | None:
    """The problem with a path parameter, or None."""
    return text_problem(value)


def install_input_guard(app: Quart) -> None:
    @app.before_request
    async def check_input() -> None:
        problems: list[FieldProblem] = []
        too_long = False
        limit = ENDPOINT_LIMITS.get(request.endpoint or "", MAX_PATH_PARAM)
        for name, value in (request.view_args or {}).items():
            if not isinstance(value, str):
                continue
            reason = path_param_problem(value)
            if reason:
                problems.append(FieldProblem(name, reason))
            elif len(value) > limit:
                too_long = True
        for name, value in request.args.items(multi=True):
            reason = text_problem(name) or text_problem(value)
            if reason:
                problems.append(FieldProblem("query" if text_problem(name) else name, reason))
        if problems:
            raise ValidationFailed(problems)
        if too_long:
            raise NotFound(f"no such resource: an id is longer than {limit} characters")
