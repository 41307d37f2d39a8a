"""The read side of what tenants bought: filtered, newest-first, cursor-paginated lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.models import Dispute, Invoice, Purchase, Subscription
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


async def list_invoices(
    filters: BillingFilters, subscription_id: str | None, *, limit: int, cursor: str | None
) -> Page[Invoice]:
    """Invoices; `subscription_id` is our subscription's id (one that is not a UUID names
    no subscription, so the list is empty rather than an error)."""
    query = Invoice.filter(**filters.as_lookups())
    if subscription_id is not None:
        try:
            query = query.filter(subscription_id=uuid.UUID(subscription_id))
        except ValueError:
            query = query.filter(id__isnull=True)
    return await paginate(query, limit=limit, cursor=cursor)


async def list_disputes(
    filters: BillingFilters, *, limit: int, cursor: str | None
) -> Page[Dispute]:
    return await paginate(Dispute.filter(**filters.as_lookups()), limit=limit, cursor=cursor)
