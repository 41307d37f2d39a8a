"""Managing what was bought: cancel, resume and change a subscription, open the provider's
portal, refund a purchase. Each validates, calls `core.managing`, and shapes the answer;
every POST replays under `Idempotency-Key` (not atomic: the provider is asked outside any
transaction, and an error is never stored, so a fixed request may reuse its key)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response, security_scheme

from core import serializers
from core.managing import portal, refunds, subscriptions
from core.providers import ChangePreview
from core.store.idempotency import StoredResponse, idempotent
from core.timeutil import isoformat
from web.optional_body import optional_body
from web.responses import json_response
from web.schemas.billing import PurchaseOut, SubscriptionOut
from web.schemas.common import ErrorBody
from web.schemas.idempotency import IdempotencyHeaders
from web.schemas.managing import (
    CancelBody,
    ChangeBody,
    ChangePreviewOut,
    PortalSessionCreate,
    PortalSessionOut,
    RefundBody,
    ResumeBody,
)
from web.state import state

blueprint = Blueprint("managing", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


def _request_key() -> tuple[str | None, str]:
    """The caller's `Idempotency-Key`, and the key of this logical request (that key, or a
    random one drawn once for a request without it)."""
    key = request.headers.get("Idempotency-Key")
    return key, key or f"request:{uuid.uuid4()}"


async def _once(
    scope: str, key: str | None, payload: Any, work: Callable[[], Awaitable[StoredResponse]]
) -> Response:
    """Run `work` once per `Idempotency-Key`; `payload` holds the path's id with the body,
    so one key reused for another object is 409 `idempotency_key_reused`."""
    answer = await idempotent(scope, key, payload, work, atomic=False)
    return json_response(answer.body, answer.status_code)


def _consumer(body_value: str | None) -> str | None:
    """The consumer the caller names: in the body, or as `?consumerKey=`."""
    return body_value or request.args.get("consumerKey") or None


@blueprint.post("/subscriptions/<id>/cancel")
@security_scheme(SECURED)
@document_request(CancelBody)
@document_headers(IdempotencyHeaders)
@document_response(SubscriptionOut, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
async def cancel_subscription(id: str) -> Response:
    """Cancel at the period's end (default; still entitled until then) or now
    (`"atPeriodEnd": false`: `canceled` at once). 409 `subscription_not_active` when it has
    already ended; 422 `capability_unsupported`; 502 `provider_error` (nothing changed)."""
    body, payload = await optional_body(CancelBody)
    key, request_key = _request_key()
    target = subscriptions.Target(id, _consumer(body.consumer_key), request_key)

    async def work() -> StoredResponse:
        record = await subscriptions.cancel(
            state().registry, target, at_period_end=body.at_period_end
        )
        return StoredResponse(200, serializers.subscription(record))

    return await _once(
        "POST /internal/payments/subscriptions/:id/cancel", key, {"id": id, "body": payload}, work
    )


@blueprint.post("/subscriptions/<id>/resume")
@security_scheme(SECURED)
@document_request(ResumeBody)
@document_headers(IdempotencyHeaders)
@document_response(SubscriptionOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
async def resume_subscription(id: str) -> Response:
    """Undo a pending cancel at the period's end; 409 `subscription_not_resumable` when
    none is pending."""
    body, payload = await optional_body(ResumeBody)
    key, request_key = _request_key()
    target = subscriptions.Target(id, _consumer(body.consumer_key), request_key)

    async def work() -> StoredResponse:
        record = await subscriptions.resume(state().registry, target)
        return StoredResponse(200, serializers.subscription(record))

    return await _once(
        "POST /internal/payments/subscriptions/:id/resume", key, {"id": id, "body": payload}, work
    )


def _preview(found: ChangePreview) -> dict[str, Any]:
    return {
        "amountDue": found.amount_due,
        "currency": found.currency,
        "prorationDate": isoformat(found.proration_date),
        "lines": [{"description": line.description, "amount": line.amount} for line in found.lines],
    }


@blueprint.post("/subscriptions/<id>/change")
@security_scheme(SECURED)
@document_request(ChangeBody)
@document_headers(IdempotencyHeaders)
@document_response(SubscriptionOut, 200)
@document_response(ChangePreviewOut, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
async def change_subscription(id: str) -> Response:
    """Move to another recurring item (`pricingItemCode` follows); with `"preview": true`
    only what it would be invoiced now. 422 `pricing_item_unavailable` for an archived,
    inactive or one-time item; 409 `subscription_not_active`."""
    body, payload = await optional_body(ChangeBody)
    key, request_key = _request_key()
    target = subscriptions.Target(id, _consumer(body.consumer_key), request_key)
    registry = state().registry

    async def work() -> StoredResponse:
        code, proration = body.pricing_item_code, body.proration
        if body.preview:
            found = await subscriptions.preview(registry, target, code, proration)
            return StoredResponse(200, _preview(found))
        record = await subscriptions.change(registry, target, code, proration)
        return StoredResponse(200, serializers.subscription(record))

    return await _once(
        "POST /internal/payments/subscriptions/:id/change", key, {"id": id, "body": payload}, work
    )


@blueprint.post("/portal-sessions")
@security_scheme(SECURED)
@document_request(PortalSessionCreate)
@document_headers(IdempotencyHeaders)
@document_response(PortalSessionOut, 201)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
async def create_portal_session() -> Response:
    """The provider's hosted page where the tenant updates its card, sees its invoices and
    cancels; 404 `customer_not_found` when the tenant is no customer at that provider."""
    body, payload = await optional_body(PortalSessionCreate)
    key, request_key = _request_key()
    wanted = portal.PortalInput(
        provider_key=body.provider_key,
        consumer_key=body.consumer_key,
        consumer_tenant_id=body.consumer_tenant_id,
        return_url=body.return_url,
        request_key=request_key,
    )

    async def work() -> StoredResponse:
        provider_key, opened = await portal.open_portal(state().registry, wanted)
        answer = {
            "url": opened.url,
            "providerKey": provider_key,
            "expiresAt": isoformat(opened.expires_at),
        }
        return StoredResponse(201, answer)

    return await _once("POST /internal/payments/portal-sessions", key, payload, work)


@blueprint.post("/purchases/<id>/refunds")
@security_scheme(SECURED)
@document_request(RefundBody)
@document_headers(IdempotencyHeaders)
@document_response(PurchaseOut, 201)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 422)
@document_response(ErrorBody, 502)
async def refund_purchase(id: str) -> Response:
    """Refund `amount` (all that is left when it is not given): 201 with the purchase,
    `partially_refunded` or `refunded`. 422 `refund_exceeds_remaining`; 409
    `purchase_not_paid`."""
    body, payload = await optional_body(RefundBody)
    key, request_key = _request_key()
    wanted = refunds.RefundInput(
        purchase_id=id,
        consumer_key=_consumer(body.consumer_key),
        amount=body.amount,
        reason=body.reason,
        request_key=request_key,
    )

    async def work() -> StoredResponse:
        record = await refunds.refund(state().registry, wanted)
        return StoredResponse(201, serializers.purchase(record))

    return await _once(
        "POST /internal/payments/purchases/:id/refunds", key, {"id": id, "body": payload}, work
    )
