"""A tenant's session on its provider's hosted portal (card, invoices, cancel).

The tenant must already be a customer at that provider (a checkout made it one): the
portal belongs to a customer, and making one here would open a portal with nothing in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import NotFound
from core.managing.requests import action_key, require
from core.models import ProviderCustomer
from core.plugins import Registry
from core.providers import CAPABILITY_PORTAL, PortalRequest, PortalSession


@dataclass(frozen=True)
class PortalInput:
    provider_key: str | None
    consumer_key: str
    consumer_tenant_id: str
    return_url: str
    request_key: str


async def open_portal(registry: Registry, data: PortalInput) -> tuple[str, PortalSession]:
    """The provider key and the provider's portal session; 404 `customer_not_found`."""
    provider = registry.provider(data.provider_key)
    require(provider, CAPABILITY_PORTAL)
    customer = await ProviderCustomer.get_or_none(
        provider_key=provider.key,
        consumer_key=data.consumer_key,
        consumer_tenant_id=data.consumer_tenant_id,
    )
    if customer is None:
        raise NotFound(
            f"tenant '{data.consumer_tenant_id}' of consumer '{data.consumer_key}' has no "
            f"customer at provider '{provider.key}' (it never started a checkout there)",
            code="customer_not_found",
        )
    session = await provider.create_portal_session(
        PortalRequest(
            provider_customer_id=customer.provider_customer_id,
            return_url=data.return_url,
            consumer_key=data.consumer_key,
            consumer_tenant_id=data.consumer_tenant_id,
            idempotency_key=action_key(
                "portal",
                data.request_key,
                provider.key,
                customer.provider_customer_id,
                data.return_url,
            ),
        )
    )
    return provider.key, session
