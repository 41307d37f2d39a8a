"""Cancel, resume and change a subscription at its provider (and preview a change).

Each checks the local record first (the state the caller can see), so a request that
cannot succeed changes nothing and asks no one; then asks the provider under the action's
idempotency key and applies its answer; and answers the record as it now is.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog.buyable import available_item, priced_item
from core.errors import Conflict, Unprocessable
from core.managing.requests import action_key, apply_answer, one_at_a_time, require
from core.managing.targets import subscription_of
from core.models import Subscription
from core.plugins import Registry
from core.providers import (
    CAPABILITY_CANCEL,
    CAPABILITY_CHANGE,
    CAPABILITY_RESUME,
    ChangePreview,
    Proration,
    SubscriptionChange,
)

ENDED = frozenset({"canceled", "incomplete_expired"})
CHANGEABLE = frozenset({"active", "trialing", "past_due"})


@dataclass(frozen=True)
class Target:
    """The subscription an action names, the consumer the caller names, its request key."""

    subscription_id: str
    consumer_key: str | None
    request_key: str


def _not_active(record: Subscription) -> Conflict:
    return Conflict(
        f"subscription '{record.id}' is {record.status}: it can no longer be changed",
        code="subscription_not_active",
    )


async def _reloaded(record: Subscription) -> Subscription:
    await record.refresh_from_db()
    return record


async def cancel(registry: Registry, target: Target, *, at_period_end: bool) -> Subscription:
    """At the period's end (still entitled until then), or now (`canceled` at once)."""
    record = await subscription_of(
        target.subscription_id, target.consumer_key, list(registry.providers)
    )
    provider = registry.provider(record.provider_key)
    require(provider, CAPABILITY_CANCEL)
    async with one_at_a_time(provider.key, record.provider_subscription_id):
        record = await _reloaded(record)
        if record.status in ENDED:
            raise _not_active(record)
        key = action_key("cancel", target.request_key, record.id, at_period_end)
        answer = await provider.cancel_subscription(
            record.provider_subscription_id, at_period_end=at_period_end, idempotency_key=key
        )
        await apply_answer(provider.key, answer)
        return await _reloaded(record)


async def resume(registry: Registry, target: Target) -> Subscription:
    """Undo a pending cancel at the period's end."""
    record = await subscription_of(
        target.subscription_id, target.consumer_key, list(registry.providers)
    )
    provider = registry.provider(record.provider_key)
    require(provider, CAPABILITY_RESUME)
    async with one_at_a_time(provider.key, record.provider_subscription_id):
        record = await _reloaded(record)
        if record.status in ENDED or not record.cancel_at_period_end:
            state = record.status if record.status in ENDED else "not pending a cancel"
            raise Conflict(
                f"subscription '{record.id}' is {state}: there is nothing to resume",
                code="subscription_not_resumable",
            )
        key = action_key("resume", target.request_key, record.id)
        answer = await provider.resume_subscription(
            record.provider_subscription_id, idempotency_key=key
        )
        await apply_answer(provider.key, answer)
        return await _reloaded(record)


async def _change_of(
    registry: Registry, target: Target, code: str, proration: Proration, kind: str
) -> tuple[Subscription, SubscriptionChange]:
    """The change asked for, checked: 404/422 for the item, 409 for the subscription."""
    record = await subscription_of(
        target.subscription_id, target.consumer_key, list(registry.providers)
    )
    provider = registry.provider(record.provider_key)
    require(provider, CAPABILITY_CHANGE)
    item = await available_item(code)
    if item.kind != "recurring":
        raise Unprocessable(
            f"pricing item '{code}' is one_time: a subscription can only move to a recurring item",
            code="pricing_item_unavailable",
        )
    if record.status not in CHANGEABLE:
        raise _not_active(record)
    if item.code == record.pricing_item_code:
        raise Conflict(
            f"subscription '{record.id}' is already on '{code}'", code="subscription_plan_unchanged"
        )
    priced = await priced_item(provider, item)
    change = SubscriptionChange(
        provider_subscription_id=record.provider_subscription_id,
        item=priced,
        consumer_key=record.consumer_key,
        consumer_tenant_id=record.consumer_tenant_id,
        proration=proration,
        idempotency_key=action_key(kind, target.request_key, record.id, code, proration),
    )
    return record, change


async def change(
    registry: Registry, target: Target, code: str, proration: Proration
) -> Subscription:
    """Move the subscription to another recurring item; its `pricingItemCode` follows."""
    record = await subscription_of(
        target.subscription_id, target.consumer_key, list(registry.providers)
    )
    async with one_at_a_time(record.provider_key, record.provider_subscription_id):
        record, asked = await _change_of(registry, target, code, proration, "change")
        provider = registry.provider(record.provider_key)
        answer = await provider.change_subscription(asked)
        await apply_answer(provider.key, answer)
        return await _reloaded(record)


async def preview(
    registry: Registry, target: Target, code: str, proration: Proration
) -> ChangePreview:
    """What the change would be invoiced now; nothing changes anywhere."""
    record, asked = await _change_of(registry, target, code, proration, "preview")
    return await registry.provider(record.provider_key).preview_change(asked)
