"""Internal controls: play the provider's part for a sandbox subscription or checkout.

Under `/internal/`, so the host's token guard protects them. Renew (the next payment
succeeds), fail the next payment (dunning: `invoice.payment_failed`, `past_due`), cancel
now, expire an open checkout, and open or move a payment's dispute (a chargeback). Each sends its events through the service's webhook,
as Stripe would, and answers the sandbox's object once the service has accepted them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_request, document_response, security_scheme

from core.errors import FieldProblem, NotFound, ProviderError, ValidationFailed
from core.facts import DISPUTE_STATUSES
from sandbox_provider import actions, managing, store, views
from sandbox_provider.runtime import sandbox_provider
from sandbox_provider.schemas import (
    SandboxCheckoutSessionOut,
    SandboxDisputeIn,
    SandboxDisputeOut,
    SandboxSubscriptionOut,
)
from sandbox_provider.sender import DeliveryFailed
from web.responses import json_response
from web.schemas.common import ErrorBody

blueprint = Blueprint("sandbox_controls", __name__, url_prefix="/internal/payments/sandbox")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


async def _owned(object_id: str, kind: str, what: str, code: str) -> str:
    """The provider key of an object a sandbox key of this app holds; 404 otherwise."""
    row = await store.find(object_id, kind)
    if row is None or sandbox_provider(row.provider_key) is None:
        raise NotFound(f"{what} '{object_id}' not found", code=code)
    return row.provider_key


async def _flush(provider_key: str) -> None:
    provider = sandbox_provider(provider_key)
    if provider is None:  # pragma: no cover - checked by _owned already
        return
    try:
        await provider.sender.flush()
    except DeliveryFailed as error:
        raise ProviderError(
            f"the sandbox changed, but the service did not accept its event ({error}); "
            "it is sent again with the next sandbox action",
            code="sandbox_webhook_failed",
        ) from None


async def _subscription_action(
    subscription_id: str, act: Callable[[str, datetime | None], Awaitable[dict[str, Any]]]
) -> Response:
    key = await _owned(
        subscription_id,
        store.SUBSCRIPTION,
        "sandbox subscription",
        "sandbox_subscription_not_found",
    )
    changed = await act(subscription_id, None)
    await _flush(key)
    latest = changed.get("latest_invoice")
    invoice = await store.find(latest, store.INVOICE) if latest else None
    return json_response(views.subscription(key, changed, invoice.data if invoice else None))


@blueprint.post("/subscriptions/<subscription_id>/renew")
@security_scheme(SECURED)
@document_response(SandboxSubscriptionOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 502)
async def renew(subscription_id: str) -> Response:
    """The next payment succeeds: a new period and `invoice.paid` (a past_due subscription's
    open invoice is paid instead); the subscription is active. 404 unknown, 409 canceled."""
    return await _subscription_action(subscription_id, actions.renew)


@blueprint.post("/subscriptions/<subscription_id>/fail-next-payment")
@security_scheme(SECURED)
@document_response(SandboxSubscriptionOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 502)
async def fail_next_payment(subscription_id: str) -> Response:
    """The next payment fails: a new, unpaid period, `past_due`, `invoice.payment_failed`.
    404 unknown, 409 canceled."""
    return await _subscription_action(subscription_id, actions.fail_next_payment)


@blueprint.post("/subscriptions/<subscription_id>/cancel")
@security_scheme(SECURED)
@document_response(SandboxSubscriptionOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 502)
async def cancel(subscription_id: str) -> Response:
    """Cancel now (`customer.subscription.deleted`). 404 unknown, 409 already canceled."""
    return await _subscription_action(subscription_id, actions.cancel_subscription)


@blueprint.post("/checkout-sessions/<session_id>/expire")
@security_scheme(SECURED)
@document_response(SandboxCheckoutSessionOut, 200)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 502)
async def expire(session_id: str) -> Response:
    """Expire an open checkout now (`checkout.session.expired`). 404 unknown, 409 not open."""
    key = await _owned(
        session_id, store.CHECKOUT_SESSION, "checkout session", "checkout_session_not_found"
    )
    expired = await actions.expire(session_id)
    assert expired is not None
    await _flush(key)
    return json_response(views.checkout_session(key, expired))


MAX_REASON = 64


def _dispute_body(body: object) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise ValidationFailed([FieldProblem("body", "must be a JSON object")])
    status, reason = body.get("status"), body.get("reason")
    problems = []
    if status not in DISPUTE_STATUSES:
        problems.append(FieldProblem("status", f"must be one of {', '.join(DISPUTE_STATUSES)}"))
    if reason is not None and not (
        isinstance(reason, str) and 0 < len(reason) <= MAX_REASON and "\x00" not in reason
    ):
        problems.append(FieldProblem("reason", f"must be text of 1 to {MAX_REASON} characters"))
    if problems:
        raise ValidationFailed(problems)
    return str(status), reason


@blueprint.post("/payment-intents/<payment_id>/dispute")
@security_scheme(SECURED)
@document_request(SandboxDisputeIn)
@document_response(SandboxDisputeOut, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
@document_response(ErrorBody, 409)
@document_response(ErrorBody, 502)
async def dispute(payment_id: str) -> Response:
    """Open a dispute of a succeeded payment (`charge.dispute.created`), or move its dispute:
    `needs_response`/`under_review` (`charge.dispute.updated`), `won`/`lost`/
    `warning_closed` (`charge.dispute.closed`). 404 unknown, 409 not succeeded or closed."""
    key = await _owned(
        payment_id, store.PAYMENT_INTENT, "sandbox payment intent", "sandbox_payment_not_found"
    )
    status, reason = _dispute_body(await request.get_json())
    data = await managing.dispute(payment_id, status=status, reason=reason, provider_key=key)
    await _flush(key)
    return json_response(views.dispute(key, data))
