"""Managing a subscription at Stripe: cancel, resume, move to another price, preview that.

Builders only: what each call sends, and Stripe's answers in the host's terms. The calls
themselves are made by `provider.py` under its retry policy and idempotency keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stripe.params import SubscriptionUpdateParams

from core.errors import ProviderError, Unprocessable
from core.providers import ChangePreview, PreviewLine, SubscriptionChange
from core.timeutil import from_unix
from stripe_provider.metadata import CONSUMER_KEY, CONSUMER_TENANT_ID, PRICING_ITEM_CODE

PREVIEW_API_VERSION = "2025-02-24.acacia"
"""The last Stripe API version that still has `GET /v1/invoices/upcoming`.

Version 2025-03-31.basil replaced it with `POST /v1/invoices/create_preview`, the only
preview the pinned SDK (16.1.0, 2026-10-28) knows. The OpenAPI description every request
of this plugin is checked against (2023-08-16) has only the old endpoint, so the preview
is the one request that goes out raw (`raw_request_async`) under this older version:
valid against that description, and still served by Stripe for requests that ask for it.
"""


def cancel_params(*, at_period_end: bool) -> SubscriptionUpdateParams:
    """Cancel at the end of the period (`true`), or undo that (`false`, a resume)."""
    return {"cancel_at_period_end": at_period_end}


def first_item_id(data: Mapping[str, Any]) -> str:
    """The id of the subscription's first item: the one our checkout created, and the one a
    change replaces (a checkout sells exactly one item)."""
    items = data.get("items")
    found = items.get("data") if isinstance(items, Mapping) else None
    if isinstance(found, list) and found and isinstance(found[0], Mapping):
        item_id = found[0].get("id")
        if isinstance(item_id, str) and item_id:
            return item_id
    raise ProviderError(f"Stripe subscription {data.get('id')} has no item to change")


def new_price(change: SubscriptionChange) -> str:
    price = change.item.provider_price_id
    if not price:
        raise Unprocessable(
            f"pricing item '{change.item.code}' has no Stripe price", code="provider_price_missing"
        )
    return price


def change_params(change: SubscriptionChange, item_id: str) -> SubscriptionUpdateParams:
    """The item's price replaced in place, with the proration asked for.

    Stripe merges metadata on update: only the keys sent change, the others are kept. The
    tenancy keys are sent again with the new pricing item code, so the subscription's
    later events name the new item and the same tenant.
    """
    return {
        "items": [{"id": item_id, "price": new_price(change)}],
        "proration_behavior": change.proration,
        "metadata": {
            CONSUMER_KEY: change.consumer_key,
            CONSUMER_TENANT_ID: change.consumer_tenant_id,
            PRICING_ITEM_CODE: change.item.code,
        },
    }


def preview_params(
    change: SubscriptionChange, data: Mapping[str, Any], item_id: str, proration_date: int
) -> dict[str, Any]:
    """`GET /v1/invoices/upcoming` query: the subscription as if changed at `proration_date`."""
    customer = data.get("customer")
    customer_id = customer.get("id") if isinstance(customer, Mapping) else customer
    params: dict[str, Any] = {
        "subscription": change.provider_subscription_id,
        "subscription_items": [{"id": item_id, "price": new_price(change)}],
        "subscription_proration_behavior": change.proration,
        "subscription_proration_date": proration_date,
    }
    if isinstance(customer_id, str) and customer_id:
        params["customer"] = customer_id
    return params


def change_preview(data: Mapping[str, Any], proration_date: int) -> ChangePreview:
    """Stripe's upcoming invoice as the host's preview: what is due now, line by line."""
    lines = data.get("lines")
    found = lines.get("data") if isinstance(lines, Mapping) else None
    preview_lines = tuple(
        PreviewLine(description=str(line.get("description") or ""), amount=int(line["amount"]))
        for line in (found if isinstance(found, list) else [])
        if isinstance(line, Mapping) and isinstance(line.get("amount"), int)
    )
    moment: datetime | None = from_unix(proration_date)
    assert moment is not None
    return ChangePreview(
        amount_due=int(data.get("amount_due") or 0),
        currency=str(data.get("currency") or ""),
        proration_date=moment,
        lines=preview_lines,
    )
