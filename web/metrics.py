"""`GET /metrics` and the request timing that feeds it."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Quart, Response, current_app, g, request
from quart_schema import hide

from core.gauges import refresh_gauges
from core.metrics import HTTP_REQUESTS, HTTP_SECONDS
from web.request_log import note_route
from web.state import AppState

blueprint = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


@blueprint.get("/metrics")
@hide
async def metrics() -> Response:
    """Prometheus text format; public like /health (it holds no tenant data). The gauges are
    read from the database now (`core.gauges`); when it does not answer, the counters are
    still served and the gauges keep their last values."""
    state: AppState = current_app.extensions["payments"]
    try:
        await refresh_gauges(
            state.registry.consumers, current_app.extensions.get("payments_dispatcher")
        )
    except Exception as error:
        log.warning("metrics: gauges not refreshed: %s", error)
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def request_meters(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter and the latency histogram of one route's answers, as the Quart
    hooks below record them; a fast path below Quart binds them once and records the same."""
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_SECONDS.labels(route)


def install_request_metrics(app: Quart) -> None:
    @app.before_request
    async def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    async def record(response: Response) -> Response:
        started = g.get("metrics_started")
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        note_route(route)  # the request's log line names the same route (web.request_log)
        counted, timed = request_meters(request.method, route, response.status_code)
        counted.inc()
        if started is not None:
            timed.observe(time.perf_counter() - started)
        return response
