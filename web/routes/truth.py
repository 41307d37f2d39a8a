"""Truth: reconcile one tenant's records with its providers, on request."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response
from quart_schema import document_response, security_scheme, validate_querystring

from core.billing.plan_status import plan_status_json
from core.reconcile.objects import Scope
from core.reconcile.run import reconcile
from web.responses import json_response
from web.schemas.common import ErrorBody
from web.schemas.truth import ReconcileOut, ReconcileQuery
from web.state import state

blueprint = Blueprint("truth", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


@blueprint.post("/tenants/<consumerTenantId>/reconcile")
@security_scheme(SECURED)
@validate_querystring(ReconcileQuery)
@document_response(ReconcileOut, 200)
@document_response(ErrorBody, 400)
async def reconcile_tenant(consumerTenantId: str, query_args: ReconcileQuery) -> Response:
    """Re-read the tenant's subscriptions, open checkout sessions and non-final purchases
    from their providers (`?consumerKey=` narrows to one product), apply what differs as the
    lost webhooks would have, and answer what it did with the plan status after it. An
    object the provider could not be asked about is listed in `errors` (answered 200: the
    rest was done; call again)."""
    settings = state().settings
    scope = Scope(consumer_key=query_args.consumer_key, consumer_tenant_id=consumerTenantId)
    report = await reconcile(state().registry, scope, concurrency=settings.reconcile_concurrency)
    status = await plan_status_json(
        consumerTenantId, query_args.consumer_key, settings.past_due_grace_days
    )
    return json_response(
        {
            "checked": report.checked,
            "changed": report.changed,
            "missingAtProvider": report.missing,
            "errors": [{"object": label, "message": why} for label, why in report.errors],
            "planStatus": orjson.loads(status),
        }
    )
