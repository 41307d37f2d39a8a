"""The hottest read answered below Quart: a well-formed, authorized `GET .../plan-status`.

Products ask for a tenant's plan status before most things the tenant does, so the cost of
one request is the service's cost. With the answer usually bytes from the plan-status cache
(`core.billing.plan_cache`), Quart's per-request machinery (request and app contexts, URL matching,
before and after hooks, quart-schema's response conversion) costs more than the answer.
This ASGI middleware answers the successful case itself, with the same status, body, headers
and metrics as the route. Every other case goes on to Quart unchanged: no or a wrong token,
a query it does not recognise at a glance, another method, an error while reading. The Quart
route (`web.routes.billing.get_plan_status`) stays the documented one and owns every error.
"""

from __future__ import annotations

import re
import time
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart

from core.billing.plan_status import plan_status_json
from web.asgi_answers import send_json
from web.auth import HEADER, token_matches
from web.input_guard import MAX_PATH_PARAM
from web.json_body import text_problem
from web.metrics import request_meters
from web.request_log import note_route
from web.routes.billing import MAX_CONSUMER_KEY

ENDPOINT = "billing.get_plan_status"
_HEADER = HEADER.encode()
_QUERY = re.compile(rb"consumerKey=([A-Za-z0-9_.\-]{1,%d})" % MAX_CONSUMER_KEY)
"""The one query the fast path reads: a consumer key that needs no decoding."""


class PlanStatusFastPath:
    """Wraps `app.asgi_app`; see the module docstring."""

    def __init__(self, app: Quart, inner: Any, *, token: str, grace_days: int) -> None:
        self.inner = inner
        self.token = token.encode()
        self.grace_days = grace_days
        rule = next(r.rule for r in app.url_map.iter_rules() if r.endpoint == ENDPOINT)
        pattern = re.escape(rule).replace(re.escape("<consumerTenantId>"), "([^/]+)")
        self.path = re.compile(pattern)
        self.rule = rule
        self.counted, self.timed = request_meters("GET", rule, 200)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        started = time.perf_counter()
        asked = self._recognise(scope)
        if asked is not None:
            try:
                body = await plan_status_json(asked[0], asked[1], self.grace_days)
            except Exception:
                body = None  # Quart's route asks again and answers the error
            if body is not None:
                note_route(self.rule)
                await send_json(send, 200, body)
                self.counted.inc()
                self.timed.observe(time.perf_counter() - started)
                return
        await self.inner(scope, receive, send)

    def _recognise(self, scope: Scope) -> tuple[str, str | None] | None:
        """(tenant, consumer key) when this request is one the fast path answers, else None."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        found = self.path.fullmatch(scope["path"])
        if found is None:
            return None
        tenant = found.group(1)
        if len(tenant) > MAX_PATH_PARAM or text_problem(tenant):
            return None  # Quart's input guard answers it
        query = scope["query_string"]
        consumer_key: str | None = None
        if query:
            wanted = _QUERY.fullmatch(query)
            if wanted is None:
                return None
            consumer_key = wanted.group(1).decode()
        tokens = [value for name, value in scope["headers"] if name == _HEADER]
        if len(tokens) != 1 or not token_matches(tokens[0], self.token):
            return None  # Quart's guard answers the 401 (a repeated header included)
        return (tenant, consumer_key)
