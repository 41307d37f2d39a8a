"""The subscription or purchase an action names, as the caller may see it.

`:id` is our id (a UUID) or the provider's id of the object. A caller that names its
consumer (`consumerKey`) never reaches another consumer's record: that is a 404, exactly as
for an id that does not exist, so nothing about other products' tenants leaks.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from tortoise.models import Model

from core.errors import NotFound
from core.models import Purchase, Subscription

M = TypeVar("M", bound=Model)
MAX_ID = 255


async def _named(
    model: type[M], object_id: str, provider_field: str, provider_keys: list[str]
) -> M | None:
    """By our id, else by the provider's id at one of the enabled provider keys (the unique
    (provider key, provider id) index serves that lookup; the provider id alone would not)."""
    try:
        found = await model.get_or_none(id=uuid.UUID(object_id))
    except ValueError:
        found = None
    if found is None and provider_keys and 0 < len(object_id) <= MAX_ID:
        found = await model.filter(
            provider_key__in=provider_keys, **{provider_field: object_id}
        ).first()
    return found


def _visible(record: Subscription | Purchase | None, consumer_key: str | None) -> bool:
    return record is not None and consumer_key in (None, record.consumer_key)


async def subscription_of(
    object_id: str, consumer_key: str | None, provider_keys: list[str]
) -> Subscription:
    found = await _named(Subscription, object_id, "provider_subscription_id", provider_keys)
    if found is None or not _visible(found, consumer_key):
        raise NotFound(f"subscription '{object_id}' not found", code="subscription_not_found")
    return found


async def purchase_of(
    object_id: str, consumer_key: str | None, provider_keys: list[str]
) -> Purchase:
    found = await _named(Purchase, object_id, "provider_payment_id", provider_keys)
    if found is None or not _visible(found, consumer_key):
        raise NotFound(f"purchase '{object_id}' not found", code="purchase_not_found")
    return found
