"""Checkout sessions: open one at a provider (POST), and read one back, refreshed (GET)."""

from __future__ import annotations

import uuid

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_response, security_scheme, validate_request

from core import serializers
from core.checkout import sessions
from core.store.idempotency import StoredResponse, idempotent
from web.responses import json_response
from web.schemas.checkout import CheckoutSessionCreate, CheckoutSessionOut
from web.schemas.common import ErrorBody
from web.schemas.idempotency import IdempotencyHeaders
from web.state import state

blueprint = Blueprint("checkout", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]
SCOPE = "POST /internal/payments/checkout-sessions"


@blueprint.post("/checkout-sessions")
@security_scheme(SECURED)
@validate_request(CheckoutSessionCreate)
@document_headers(IdempotencyHeaders)
@document_response(CheckoutSessionOut, 201)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
@document_response(ErrorBody, 503)
async def create_checkout_session(data: CheckoutSessionCreate) -> Response:
    """Open a hosted checkout for a tenant (201); replays under `Idempotency-Key`.

    404 unknown provider key or item, 409 `subscription_exists` (a recurring checkout for a
    tenant with a live subscription of this consumer, unless `allowAdditionalSubscription`),
    422 item unavailable or without a price, or `consumer_unknown` (the `consumerKey` names no
    configured consumer: its events would have nowhere to go), 502 the provider failed (its message), 503 the
    provider is not configured.
    """
    key = request.headers.get("Idempotency-Key")
    wanted = sessions.CheckoutInput(
        provider_key=data.provider_key,
        pricing_item_code=data.pricing_item_code,
        consumer_key=data.consumer_key,
        consumer_tenant_id=data.consumer_tenant_id,
        tenant_name=data.tenant_name,
        legal_name=data.legal_name,
        billing_email=data.billing_email,
        success_url=data.success_url,
        cancel_url=data.cancel_url,
        request_key=key or f"request:{uuid.uuid4()}",
        allow_additional_subscription=data.allow_additional_subscription,
        allow_promotion_codes=data.allow_promotion_codes,
        automatic_tax=data.automatic_tax,
    )

    async def work() -> StoredResponse:
        opened = await sessions.create_checkout_session(state().registry, wanted)
        return StoredResponse(201, serializers.checkout_session(opened))

    # Not atomic: the provider call must not run inside a database transaction.
    answer = await idempotent(SCOPE, key, await request.get_json(), work, atomic=False)
    return json_response(answer.body, answer.status_code)


@blueprint.get("/checkout-sessions/<providerCheckoutSessionId>")
@security_scheme(SECURED)
@document_response(CheckoutSessionOut, 200)
@document_response(ErrorBody, 404)
async def get_checkout_session(providerCheckoutSessionId: str) -> Response:
    """The session; while it is open locally it is refreshed from the provider first."""
    session = await sessions.get_checkout_session(state().registry, providerCheckoutSessionId)
    return json_response(serializers.checkout_session(session))
