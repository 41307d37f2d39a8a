"""The internal-token guard: every `/internal/*` route needs `x-platform-internal-token`."""

from __future__ import annotations

import hmac

from quart import Quart, current_app, request

from core.errors import Unauthorized

HEADER = "x-platform-internal-token"
PROTECTED_PREFIX = "/internal/"


def token_matches(given: bytes, expected: bytes) -> bool:
    """Constant-time, and the same answer whether the header is missing or wrong; the guard
    below and the plan-status fast path (`web.fast_plan_status`) both decide with this.
    Both refuse a request that sends the header more than once (never "first wins")."""
    return hmac.compare_digest(given, expected)


def install_token_guard(app: Quart) -> None:
    @app.before_request
    async def require_internal_token() -> None:
        if not request.path.startswith(PROTECTED_PREFIX):
            return
        expected: bytes = current_app.config["PAYMENTS_INTERNAL_TOKEN"].encode()
        given = request.headers.getlist(HEADER)
        if len(given) != 1 or not token_matches(given[0].encode(), expected):
            raise Unauthorized("missing or invalid internal token", code="unauthorized")
