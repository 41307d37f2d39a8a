"""`GET /health`: is the service up and can it reach its database."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, current_app
from quart_schema import document_response

from core import __version__
from core.store import db
from web.responses import json_response
from web.schemas.system import HealthOut, ReadyOut

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@blueprint.get("/health")
@document_response(HealthOut, 200)
@document_response(HealthOut, 503)
async def health() -> Response:
    """200 when the database answers; 503 with `database: error` when it does not."""
    try:
        await db.ping()
    except Exception as error:
        log.warning("health: database unreachable: %s", error)
        return json_response({"status": "error", "database": "error", "version": __version__}, 503)
    return json_response({"status": "ok", "database": "ok", "version": __version__})


READY_CACHE = "payments_ready_migrations"
"""Set on the app once every migration was seen applied: migrations are never unapplied
under a running service, so later probes only ping."""


@blueprint.get("/ready")
@document_response(ReadyOut, 200)
@document_response(ReadyOut, 503)
async def ready() -> Response:
    """Readiness: 200 when the database answers and every migration in `migrations/` is
    applied; 503 with `database: error`, or `migrations: pending` and the names, otherwise.
    `/health` stays the liveness check."""
    try:
        await db.ping()
    except Exception as error:
        log.warning("ready: database unreachable: %s", error)
        return json_response(
            {"status": "not_ready", "database": "error", "migrations": "unknown"}, 503
        )
    if not current_app.extensions.get(READY_CACHE):
        try:
            pending = await db.pending_migrations()
        except Exception as error:
            log.warning("ready: cannot read the applied migrations: %s", error)
            return json_response(
                {"status": "not_ready", "database": "error", "migrations": "unknown"}, 503
            )
        if pending:
            return json_response(
                {
                    "status": "not_ready",
                    "database": "ok",
                    "migrations": "pending",
                    "pending": pending,
                },
                503,
            )
        current_app.extensions[READY_CACHE] = True
    return json_response({"status": "ready", "database": "ok", "migrations": "ok"})
