"""The metadata that ties every Stripe object back to its tenant and pricing item.

The checkout writes it on the session, on the subscription or payment intent it
creates, and on the customer, so every later webhook can name its tenant on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.facts import CONSUMER_KEY, CONSUMER_TENANT_ID, PRICING_ITEM_CODE
from core.providers import CheckoutRequest

__all__ = ["CONSUMER_KEY", "CONSUMER_TENANT_ID", "PRICING_ITEM_CODE", "tenant_metadata"]


def tenant_metadata(request: CheckoutRequest) -> dict[str, str]:
    return {
        CONSUMER_KEY: request.consumer_key,
        CONSUMER_TENANT_ID: request.consumer_tenant_id,
        PRICING_ITEM_CODE: request.item.code,
    }


def client_reference(consumer_key: str, consumer_tenant_id: str) -> str:
    """`client_reference_id`: `<consumerKey>:<tenantId>`, because a tenant id is only
    unique within one product, and the dashboard shows this one field."""
    return f"{consumer_key}:{consumer_tenant_id}"


def metadata_of(value: Any) -> dict[str, str]:
    """A Stripe object's `metadata` as plain strings (absent or null: empty)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}
