"""A development inbox: a stand-in product backend, so a fresh clone can see delivered events.

`make run` points `PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL` at `POST /sandbox/inbox`, which
keeps what a consumer would receive; `GET /sandbox/inbox` lists it, newest first. Both need
the internal token (the dispatcher sends it), and both answer 404 unless a sandbox key is
enabled, which it never is in production. A redelivery (same `webhook-id`) is kept once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac

from quart import Blueprint, Response, current_app, request
from quart_schema import document_response, security_scheme
from tortoise.exceptions import IntegrityError

from core.errors import FieldProblem, NotFound, Unauthorized, ValidationFailed
from core.models import SandboxObject
from core.timeutil import isoformat, utcnow
from sandbox_provider import store
from sandbox_provider.runtime import sandbox_providers
from sandbox_provider.schemas import InboxList, InboxReceived
from web.auth import HEADER
from web.responses import json_response
from web.schemas.common import ASCII_WHOLE_NUMBER, ErrorBody

blueprint = Blueprint("sandbox_inbox", __name__)
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]
MAX_LIMIT = 200


def _inbox_key() -> str:
    """The sandbox key the inbox files under (the first enabled one); 404 without one."""
    keys = list(sandbox_providers())
    if not keys:
        raise NotFound("no sandbox provider is enabled", code="route_not_found")
    return keys[0]


def _require_token() -> None:
    expected: bytes = current_app.config["PAYMENTS_INTERNAL_TOKEN"].encode()
    given = request.headers.get(HEADER, "").encode()
    if not hmac.compare_digest(given, expected):
        raise Unauthorized("missing or invalid internal token", code="unauthorized")


@blueprint.post("/sandbox/inbox")
@security_scheme(SECURED)
@document_response(InboxReceived, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 401)
@document_response(ErrorBody, 404)
async def receive() -> Response:
    """Keep one delivered event, as a product backend would receive it."""
    key = _inbox_key()
    _require_token()
    event = await request.get_json()
    if not isinstance(event, dict):
        raise ValidationFailed([FieldProblem("body", "must be a JSON object (an event)")])
    webhook_id = request.headers.get("webhook-id") or None
    digest = hashlib.sha256((webhook_id or store.new_id(store.INBOX)).encode()).hexdigest()[:40]
    data = {"webhookId": webhook_id, "receivedAt": isoformat(utcnow()), "event": event}
    # A redelivery of an event already kept is kept once: consumers dedupe on webhook-id.
    with contextlib.suppress(IntegrityError):
        await store.create(None, f"ibx_{digest}", key, store.INBOX, data)
    return json_response({"received": True})


@blueprint.get("/sandbox/inbox")
@security_scheme(SECURED)
@document_response(InboxList, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 401)
@document_response(ErrorBody, 404)
async def listing() -> Response:
    """What the inbox received, newest first (`?limit=`, 1-200, default 50)."""
    _inbox_key()
    _require_token()
    raw = request.args.get("limit", "50")
    # ASCII digits only: str.isdigit() also takes '١٢' and '²' (which int() then refuses).
    limit = int(raw) if ASCII_WHOLE_NUMBER.fullmatch(raw) else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            [FieldProblem("limit", f"must be a whole number from 1 to {MAX_LIMIT} (digits 0-9)")]
        )
    rows = await SandboxObject.filter(kind=store.INBOX).order_by("-created_at").limit(limit)
    return json_response({"data": [row.data for row in rows], "nextCursor": None})
