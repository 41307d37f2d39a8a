"""Event deliveries for operators: list, one with its attempts, and retry now (one, or\nevery matching one)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import (
    document_response,
    security_scheme,
    validate_querystring,
    validate_request,
)

from core.delivery import admin
from web.responses import json_response
from web.schemas.common import ErrorBody
from web.schemas.deliveries import (
    DeliveryDetailOut,
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    DeliveryRetryBody,
    DeliveryRetryCount,
)

blueprint = Blueprint("deliveries", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


@blueprint.get("/event-deliveries")
@security_scheme(SECURED)
@validate_querystring(DeliveryQuery)
@document_response(DeliveryList, 200)
@document_response(ErrorBody, 400)
async def list_event_deliveries(query_args: DeliveryQuery) -> Response:
    """Deliveries newest first; filters `status`, `consumerKey`, `eventType`."""
    page = await admin.list_deliveries(
        status=query_args.status,
        consumer_key=query_args.consumer_key,
        event_type=query_args.event_type,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    data = [admin.delivery_body(d) for d in page.items]
    return json_response({"data": data, "nextCursor": page.next_cursor})


@blueprint.post("/event-deliveries/retry")
@security_scheme(SECURED)
@validate_request(DeliveryRetryBody)
@document_response(DeliveryRetryCount, 202)
@document_response(ErrorBody, 400)
async def retry_event_deliveries(data: DeliveryRetryBody) -> Response:
    """Re-queue every matching delivery not in flight, due now (202 with how many):
    `status` `failed` (a fresh retry schedule each) or `pending` (those waiting for a later
    attempt keep their place in the schedule); `consumerKey`, `eventType`, `since` (created
    at or after) narrow it."""
    count = await admin.retry_matching(
        data.status, consumer_key=data.consumer_key, event_type=data.event_type, since=data.since
    )
    return json_response({"count": count}, 202)


@blueprint.get("/event-deliveries/<id>")
@security_scheme(SECURED)
@document_response(DeliveryDetailOut, 200)
@document_response(ErrorBody, 404)
async def get_event_delivery(id: str) -> Response:
    """One delivery with the event it carries and every attempt (oldest first)."""
    detail = await admin.get_delivery(id)
    return json_response(admin.delivery_detail_body(detail))


@blueprint.post("/event-deliveries/<id>/retry")
@security_scheme(SECURED)
@document_response(DeliveryOut, 202)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
async def retry_event_delivery(id: str) -> Response:
    """Re-queue the delivery now (202); 404 unknown; 409 while an attempt is in flight."""
    delivery = await admin.retry_now(id)
    return json_response(admin.delivery_body(delivery), 202)
