"""What can be bought: an item of the catalog that is on sale, priced at one provider.

Checkout and a plan change both start here: the item must exist, be active and not
archived, and have this provider's price (created there once when the provider syncs
prices, then stored with the item).
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from core.errors import NotFound, Unprocessable
from core.models import PricingItem, PricingItemProviderPrice
from core.providers import CheckoutItem, PaymentProvider


async def available_item(code: str) -> PricingItem:
    item = await PricingItem.get_or_none(code=code)
    if item is None:
        raise NotFound(f"pricing item '{code}' not found", code="pricing_item_not_found")
    if item.archived_at is not None or not item.active:
        state = "archived" if item.archived_at is not None else "inactive"
        raise Unprocessable(
            f"pricing item '{code}' is {state} and cannot be bought",
            code="pricing_item_unavailable",
        )
    return item


def checkout_item(item: PricingItem, price: PricingItemProviderPrice | None) -> CheckoutItem:
    return CheckoutItem(
        code=item.code,
        name=item.name,
        description=item.description,
        kind="recurring" if item.kind == "recurring" else "one_time",
        unit_amount=item.unit_amount,
        currency=item.currency,
        interval=item.interval,
        interval_count=item.interval_count,
        trial_days=item.trial_days,
        provider_price_id=price.provider_price_id if price else None,
        provider_product_id=price.provider_product_id if price else None,
    )


async def priced_item(provider: PaymentProvider, item: PricingItem) -> CheckoutItem:
    """The item with this provider's price, price-syncing it when the provider does that."""
    price = await PricingItemProviderPrice.get_or_none(item_id=item.id, provider_key=provider.key)
    if price is not None:
        return checkout_item(item, price)
    synced = await provider.sync_price(checkout_item(item, None))
    if synced is None:
        raise Unprocessable(
            f"pricing item '{item.code}' has no price for provider '{provider.key}': "
            "add one to its providerPrices, or turn on price_sync for the provider",
            code="provider_price_missing",
        )
    try:
        price = await PricingItemProviderPrice.create(
            item=item,
            provider_key=provider.key,
            provider_price_id=synced.provider_price_id,
            provider_product_id=synced.provider_product_id,
        )
    except IntegrityError:
        # A concurrent checkout synced it first (the provider saw the same keys).
        price = await PricingItemProviderPrice.get_or_none(
            item_id=item.id, provider_key=provider.key
        )
        if price is None:
            raise
    return checkout_item(item, price)
