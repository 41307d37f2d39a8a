"""Purchases, subscriptions and a tenant's plan status: the read side products call."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import (
    document_querystring,
    document_response,
    security_scheme,
    validate_querystring,
)

from core import serializers
from core.billing import lists
from core.billing.plan_status import plan_status_json
from core.errors import FieldProblem, ValidationFailed
from web.responses import json_response
from web.schemas.billing import (
    PlanStatusOut,
    PlanStatusQuery,
    PurchaseList,
    PurchaseQuery,
    SubscriptionList,
    SubscriptionQuery,
)
from web.schemas.common import ErrorBody
from web.schemas.managing import DisputeList, DisputeQuery, InvoiceList, InvoiceQuery
from web.state import state

blueprint = Blueprint("billing", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]
MAX_CONSUMER_KEY = 64


def _filters(
    query: PurchaseQuery | SubscriptionQuery | InvoiceQuery | DisputeQuery,
) -> lists.BillingFilters:
    return lists.BillingFilters(
        consumer_key=query.consumer_key,
        consumer_tenant_id=query.consumer_tenant_id,
        status=query.status,
        pricing_item_code=getattr(query, "pricing_item_code", None),
    )


@blueprint.get("/purchases")
@security_scheme(SECURED)
@validate_querystring(PurchaseQuery)
@document_response(PurchaseList, 200)
@document_response(ErrorBody, 400)
async def list_purchases(query_args: PurchaseQuery) -> Response:
    """One-time purchases, newest first; filters `consumerKey`, `consumerTenantId`, `status`, `pricingItemCode`."""
    page = await lists.list_purchases(
        _filters(query_args), limit=query_args.limit, cursor=query_args.cursor
    )
    return json_response(
        {"data": [serializers.purchase(p) for p in page.items], "nextCursor": page.next_cursor}
    )


@blueprint.get("/subscriptions")
@security_scheme(SECURED)
@validate_querystring(SubscriptionQuery)
@document_response(SubscriptionList, 200)
@document_response(ErrorBody, 400)
async def list_subscriptions(query_args: SubscriptionQuery) -> Response:
    """Subscriptions, newest first; same filters as purchases."""
    page = await lists.list_subscriptions(
        _filters(query_args), limit=query_args.limit, cursor=query_args.cursor
    )
    return json_response(
        {"data": [serializers.subscription(s) for s in page.items], "nextCursor": page.next_cursor}
    )


@blueprint.get("/invoices")
@security_scheme(SECURED)
@validate_querystring(InvoiceQuery)
@document_response(InvoiceList, 200)
@document_response(ErrorBody, 400)
async def list_invoices(query_args: InvoiceQuery) -> Response:
    """Invoices kept from the providers' `invoice.*` events, newest first; filters
    `consumerKey`, `consumerTenantId`, `subscriptionId` (our id), `status`."""
    page = await lists.list_invoices(
        _filters(query_args),
        query_args.subscription_id,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    return json_response(
        {"data": [serializers.invoice(i) for i in page.items], "nextCursor": page.next_cursor}
    )


@blueprint.get("/disputes")
@security_scheme(SECURED)
@validate_querystring(DisputeQuery)
@document_response(DisputeList, 200)
@document_response(ErrorBody, 400)
async def list_disputes(query_args: DisputeQuery) -> Response:
    """Disputes (chargebacks) of purchases and subscription payments, newest first; filters
    `consumerKey`, `consumerTenantId`, `status`."""
    page = await lists.list_disputes(
        _filters(query_args), limit=query_args.limit, cursor=query_args.cursor
    )
    return json_response(
        {"data": [serializers.dispute(d) for d in page.items], "nextCursor": page.next_cursor}
    )


@blueprint.get("/tenants/<consumerTenantId>/plan-status")
@security_scheme(SECURED)
@document_querystring(PlanStatusQuery)
@document_response(PlanStatusOut, 200)
@document_response(ErrorBody, 400)
async def get_plan_status(consumerTenantId: str) -> Response:
    """What the tenant may do now; `?consumerKey=` narrows to one product.

    The hottest route: its one parameter is checked by hand rather than through a model, and
    the answer comes as JSON bytes straight from the plan-status cache.
    """
    consumer_key = request.args.get("consumerKey")
    if consumer_key is not None and not 1 <= len(consumer_key) <= MAX_CONSUMER_KEY:
        raise ValidationFailed(
            [FieldProblem("consumerKey", f"must be 1 to {MAX_CONSUMER_KEY} characters")],
            f"invalid query parameters: consumerKey: must be 1 to {MAX_CONSUMER_KEY} characters",
        )
    grace = state().settings.past_due_grace_days
    body = await plan_status_json(consumerTenantId, consumer_key, grace)
    return Response(body, mimetype="application/json")
