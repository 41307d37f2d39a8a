"""Every table of the service, one module per concern; Tortoise loads them from here."""

from core.models.billing import Dispute, Invoice, Purchase, Subscription
from core.models.catalog import PricingItem, PricingItemProviderPrice
from core.models.checkout import CheckoutSession, ProviderCustomer
from core.models.delivery import DeliveryAttempt, EventDelivery, NormalizedEvent
from core.models.idempotency import IdempotencyKey
from core.models.imports import ImportProgress
from core.models.provider_events import ProviderEvent
from core.models.provider_reads import ProviderRead
from core.models.sandbox import SandboxObject

__all__ = [
    "CheckoutSession",
    "DeliveryAttempt",
    "Dispute",
    "EventDelivery",
    "IdempotencyKey",
    "ImportProgress",
    "Invoice",
    "NormalizedEvent",
    "PricingItem",
    "PricingItemProviderPrice",
    "ProviderCustomer",
    "ProviderEvent",
    "ProviderRead",
    "Purchase",
    "SandboxObject",
    "Subscription",
]
