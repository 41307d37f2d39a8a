"""`GET /health`: is the service up and can it reach its database."""

from __future__ import annotations

import logging

from quart import Blueprint, Response
from quart_schema import document_response

from core import __version__
from core.store import db
from web.responses import json_response
from web.schemas.system import HealthOut

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
