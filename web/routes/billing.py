"""Purchases, subscriptions and a tenant's plan status: the read side products call."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, security_scheme, validate_querystring

from core import billing, serializers
from core.plan_status import plan_status
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
from web.state import state

blueprint = Blueprint("billing", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


def _filters(query: PurchaseQuery | SubscriptionQuery) -> billing.BillingFilters:
    return billing.BillingFilters(
        consumer_key=query.consumer_key,
        consumer_tenant_id=query.consumer_tenant_id,
        status=query.status,
        pricing_item_code=query.pricing_item_code,
    )


@blueprint.get("/purchases")
@security_scheme(SECURED)
@validate_querystring(PurchaseQuery)
@document_response(PurchaseList, 200)
@document_response(ErrorBody, 400)
async def list_purchases(query_args: PurchaseQuery) -> Response:
    """One-time purchases, newest first; filters `consumerKey`, `consumerTenantId`, `status`, `pricingItemCode`."""
    page = await billing.list_purchases(
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
    page = await billing.list_subscriptions(
        _filters(query_args), limit=query_args.limit, cursor=query_args.cursor
    )
    return json_response(
        {"data": [serializers.subscription(s) for s in page.items], "nextCursor": page.next_cursor}
    )


@blueprint.get("/tenants/<consumer_tenant_id>/plan-status")
@security_scheme(SECURED)
@validate_querystring(PlanStatusQuery)
@document_response(PlanStatusOut, 200)
@document_response(ErrorBody, 400)
async def get_plan_status(consumer_tenant_id: str, query_args: PlanStatusQuery) -> Response:
    """What the tenant may do now; `?consumerKey=` narrows to one product."""
    grace = state().settings.past_due_grace_days
    return json_response(await plan_status(consumer_tenant_id, query_args.consumer_key, grace))
