"""Which tenant and which pricing item a provider object belongs to.

First the metadata our checkout put on the object (`consumerKey`, `consumerTenantId`,
`pricingItemCode`), then what we already know: the tenant's provider customer, the
item's provider price.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.facts import CONSUMER_KEY, CONSUMER_TENANT_ID, PRICING_ITEM_CODE
from core.ingest import queries
from core.ingest.appliers.context import ApplyContext, Tenant
from core.models import ProviderCustomer
from core.store import records, sql


async def resolve_tenant(
    ctx: ApplyContext, metadata: Mapping[str, str], provider_customer_id: str | None
) -> Tenant | None:
    consumer_key, tenant_id = metadata.get(CONSUMER_KEY), metadata.get(CONSUMER_TENANT_ID)
    if consumer_key and tenant_id:
        return Tenant(consumer_key, tenant_id)
    if provider_customer_id:
        customer = (
            await ProviderCustomer.filter(
                provider_key=ctx.provider_key, provider_customer_id=provider_customer_id
            )
            .using_db(ctx.conn)
            .first()
        )
        if customer is not None:
            return Tenant(customer.consumer_key, customer.consumer_tenant_id)
    return None


async def item_code_of_price(ctx: ApplyContext, provider_price_id: str | None) -> str | None:
    """The pricing item whose price this is at this provider key (None: not one of ours)."""
    if not provider_price_id:
        return None
    code = await sql.scalar(ctx.conn, queries.ITEM_OF_PRICE, [ctx.provider_key, provider_price_id])
    return str(code) if code is not None else None


async def resolve_item_code(
    ctx: ApplyContext, metadata: Mapping[str, str], provider_price_id: str | None
) -> str | None:
    """What was bought: the item whose provider price it is, else the checkout's metadata.

    The price comes first because a plan change at the provider (upgrade, downgrade) changes
    the subscription's price but not the metadata our checkout put on it.
    """
    return (
        await item_code_of_price(ctx, provider_price_id) or metadata.get(PRICING_ITEM_CODE) or None
    )


async def remember_customer(
    ctx: ApplyContext, tenant: Tenant, provider_customer_id: str | None, *, hold_back: bool
) -> None:
    """Record the tenant's customer when a provider object first tells us it.

    One statement: the row is written unless the tenant already has a customer at this
    provider key or the customer id is already someone's (either unique key). A read first
    (`... consumer = ? OR customer id = ?`) cost a round trip more, and PostgreSQL answered
    that OR by filtering every customer of the provider whenever its statistics were stale.

    `hold_back` when the caller's transaction makes some id known anyway (a record created):
    the insert waits for the next statement (`core.store.sql.later`) and the customer counts as
    made known whether or not it was new; else one statement now, and made known only if new.
    """
    if not provider_customer_id:
        return
    customer = ProviderCustomer(
        provider_key=ctx.provider_key,
        consumer_key=tenant.consumer_key,
        consumer_tenant_id=tenant.consumer_tenant_id,
        provider_customer_id=provider_customer_id,
    )
    if hold_back:
        await records.insert_later_unless_exists(ctx.conn, customer)
        ctx.made_known("customer", provider_customer_id)  # new, or known before: either way
    elif await records.insert_unless_exists(ctx.conn, customer):
        ctx.made_known("customer", provider_customer_id)
