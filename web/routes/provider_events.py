"""Stored provider events for operators: list, one with its payload, and replay."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, security_scheme, validate_querystring

from core.ingest import stored
from web.responses import json_response
from web.schemas.common import ErrorBody
from web.schemas.provider_events import (
    ProviderEventDetailOut,
    ProviderEventList,
    ProviderEventQuery,
    ProviderEventReplayOut,
)
from web.state import state

blueprint = Blueprint("provider_events", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


@blueprint.get("/provider-events")
@security_scheme(SECURED)
@validate_querystring(ProviderEventQuery)
@document_response(ProviderEventList, 200)
@document_response(ErrorBody, 400)
async def list_provider_events(query_args: ProviderEventQuery) -> Response:
    """Stored provider events, newest received first; filters `providerKey`, `type`,
    `status`, `since` (received at or after). No payload (see one event)."""
    page = await stored.list_events(
        provider_key=query_args.provider_key,
        event_type=query_args.type,
        status=query_args.status,
        since=query_args.since,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    data = [stored.event_body(event) for event in page.items]
    return json_response({"data": data, "nextCursor": page.next_cursor})


@blueprint.get("/provider-events/<id>")
@security_scheme(SECURED)
@document_response(ProviderEventDetailOut, 200)
@document_response(ErrorBody, 404)
async def get_provider_event(id: str) -> Response:
    """One stored event (our id) with its raw `payload`; 404 `provider_event_not_found`."""
    return json_response(stored.event_detail_body(await stored.get_event(id)))


@blueprint.post("/provider-events/<id>/replay")
@security_scheme(SECURED)
@document_response(ProviderEventReplayOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 422)
async def replay_provider_event(id: str) -> Response:
    """Apply the stored event again through the webhook's path, at its own time: 200 with
    the event and `replay`: `applied` (it is processed now), `unchanged` (already applied:
    nothing changed, nothing emitted) or `waiting` (its tenant is still unknown; it stays
    deferred or unmatched). 404 unknown; 422 `provider_event_replay_failed` (left as it was)."""
    result = await stored.replay_or_raise(state().registry, id)
    return json_response(stored.replay_body(result))
