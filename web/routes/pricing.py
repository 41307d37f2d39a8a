"""The pricing-items API: list, public projection, create, patch and archive."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import (
    document_headers,
    document_response,
    security_scheme,
    validate_querystring,
    validate_request,
)

from core import serializers
from core.catalog import items
from core.store.idempotency import StoredResponse, idempotent
from web.responses import json_response
from web.schemas.common import ErrorBody
from web.schemas.idempotency import IdempotencyHeaders
from web.schemas.pricing import (
    PricingItemCreate,
    PricingItemList,
    PricingItemOut,
    PricingItemPatch,
    PricingItemQuery,
    ProviderPriceIn,
    PublicPricingItemList,
    PublicPricingItemQuery,
)
from web.state import state

blueprint = Blueprint("pricing", __name__, url_prefix="/internal/payments")
SECURED: list[dict[str, list[str]]] = [{"internalToken": []}]


def _refs(prices: list[ProviderPriceIn]) -> list[items.PriceRef]:
    return [
        items.PriceRef(p.provider_key, p.provider_price_id, p.provider_product_id) for p in prices
    ]


def _item_body(found: items.ItemWithPrices) -> dict[str, object]:
    return serializers.pricing_item(found.item, found.prices)


@blueprint.get("/pricing-items")
@security_scheme(SECURED)
@validate_querystring(PricingItemQuery)
@document_response(PricingItemList, 200)
@document_response(ErrorBody, 400)
async def list_pricing_items(query_args: PricingItemQuery) -> Response:
    """Every item, newest first, inactive included; archived only with `includeArchived=true`."""
    page = await items.list_items(
        active=query_args.active,
        kind=query_args.kind,
        provider_key=query_args.provider_key,
        include_archived=query_args.include_archived,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    data = [serializers.pricing_item(item, list(item.provider_prices)) for item in page.items]
    return json_response({"data": data, "nextCursor": page.next_cursor})


@blueprint.get("/public/pricing-items")
@security_scheme(SECURED)
@validate_querystring(PublicPricingItemQuery)
@document_response(PublicPricingItemList, 200)
@document_response(ErrorBody, 400)
async def list_public_pricing_items(query_args: PublicPricingItemQuery) -> Response:
    """Public items without provider references or metadata, by `sortOrder` then `unitAmount`."""
    page = await items.list_public(
        active=query_args.active, limit=query_args.limit, cursor=query_args.cursor
    )
    data = [serializers.public_pricing_item(item) for item in page.items]
    return json_response({"data": data, "nextCursor": page.next_cursor})


@blueprint.post("/pricing-items")
@security_scheme(SECURED)
@validate_request(PricingItemCreate)
@document_headers(IdempotencyHeaders)
@document_response(PricingItemOut, 201)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 409)
async def create_pricing_item(data: PricingItemCreate) -> Response:
    """Create an item (201); 409 `pricing_item_code_taken`; replays under `Idempotency-Key`."""
    fields = items.ItemFields(**data.model_dump(exclude={"provider_prices"}))
    providers = state().registry.providers.keys()

    async def work() -> StoredResponse:
        created = await items.create_item(fields, _refs(data.provider_prices), providers)
        return StoredResponse(201, _item_body(created))

    answer = await idempotent(
        "POST /internal/payments/pricing-items",
        request.headers.get("Idempotency-Key"),
        await request.get_json(),
        work,
    )
    return json_response(answer.body, answer.status_code)


@blueprint.patch("/pricing-items/<id>")
@security_scheme(SECURED)
@validate_request(PricingItemPatch)
@document_response(PricingItemOut, 200)
@document_response(ErrorBody, 400)
@document_response(ErrorBody, 404)
async def update_pricing_item(id: str, data: PricingItemPatch) -> Response:
    """Change the fields sent; `:id` is the item's id or its code."""
    sent = data.model_fields_set - {"provider_prices"}
    changes = {name: getattr(data, name) for name in sent}
    nullable = {"description", "interval"}
    for name, value in list(changes.items()):
        if value is None and name not in nullable:
            del changes[name]
    prices = None
    if "provider_prices" in data.model_fields_set:
        prices = _refs(data.provider_prices or [])
    updated = await items.update_item(id, changes, prices, state().registry.providers.keys())
    return json_response(_item_body(updated))


@blueprint.delete("/pricing-items/<id>")
@security_scheme(SECURED)
@document_response(ErrorBody, 404)
async def archive_pricing_item(id: str) -> Response:
    """Archive the item (204): inactive, `archivedAt` set, history kept."""
    await items.archive_item(id)
    return Response(status=204)
