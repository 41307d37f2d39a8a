"""`POST /webhooks/<providerKey>`: a provider's signed events, acknowledged only once committed."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, Response, request
from quart_schema import document_response

from core.ingest.intake import ingest_webhook
from web import fast_webhooks
from web.responses import json_response
from web.schemas.billing import WebhookReceived
from web.schemas.common import ErrorBody
from web.state import state

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/<provider_key>")
@document_response(WebhookReceived, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 413)
async def receive_webhook(provider_key: str) -> Response:
    """The raw body goes to the provider plugin, which checks its signature before anything else.

    200 once the event and everything it changed are committed (also for a repeat, which
    changes nothing, and for event types the service does not handle); 400 for a bad or
    missing signature; 404 for an unknown provider key; 413 above 1 MiB.
    """
    body = cast(bytes, await request.get_data(as_text=False))
    failed = fast_webhooks.failure()
    if failed is not None:
        raise failed  # the fast path already ingested this body and met this (web.fast_webhooks)
    result = await ingest_webhook(state().registry, provider_key, body, dict(request.headers))
    return json_response({"received": True, "status": result.status})
