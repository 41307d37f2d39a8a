"""Price sync: a Stripe Product and Price for a pricing item that has none yet."""

from __future__ import annotations

from stripe.params import PriceCreateParams, ProductCreateParams

from core.providers import CheckoutItem
from stripe_provider.metadata import PRICING_ITEM_CODE


def product_params(item: CheckoutItem) -> ProductCreateParams:
    params: ProductCreateParams = {"name": item.name, "metadata": {PRICING_ITEM_CODE: item.code}}
    if item.description:
        params["description"] = item.description
    return params


def price_params(item: CheckoutItem, product_id: str) -> PriceCreateParams:
    """The item's amount and currency; recurring with its interval for a recurring item."""
    params: PriceCreateParams = {
        "product": product_id,
        "unit_amount": item.unit_amount,
        "currency": item.currency,
        "metadata": {PRICING_ITEM_CODE: item.code},
    }
    if item.kind == "recurring" and item.interval:
        params["recurring"] = {"interval": item.interval, "interval_count": item.interval_count}
    return params
