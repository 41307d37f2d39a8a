"""The read side of purchases and subscriptions: filtered, newest-first, cursor-paginated lists."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Purchase, Subscription
from core.store.pagination import Page, paginate


@dataclass(frozen=True)
class BillingFilters:
    consumer_key: str | None = None
    consumer_tenant_id: str | None = None
    status: str | None = None
    pricing_item_code: str | None = None

    def as_lookups(self) -> dict[str, str]:
        lookups = {
            "consumer_key": self.consumer_key,
            "consumer_tenant_id": self.consumer_tenant_id,
            "status": self.status,
            "pricing_item_code": self.pricing_item_code,
        }
        return {name: value for name, value in lookups.items() if value is not None}


async def list_purchases(
    filters: BillingFilters, *, limit: int, cursor: str | None
) -> Page[Purchase]:
    return await paginate(Purchase.filter(**filters.as_lookups()), limit=limit, cursor=cursor)


async def list_subscriptions(
    filters: BillingFilters, *, limit: int, cursor: str | None
) -> Page[Subscription]:
    return await paginate(Subscription.filter(**filters.as_lookups()), limit=limit, cursor=cursor)
