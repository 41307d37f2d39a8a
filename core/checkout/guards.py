"""The contract's checkout guards: one live subscription per tenant and consumer, and a
trial only for a tenant that never had a subscription there.

A tenant that already pays (`active`, `trialing` or `past_due`) and starts another recurring
checkout most often meant to change plans; it would be billed twice. So that checkout is 409
`subscription_exists` (use the change route) unless the request says
`allowAdditionalSubscription`. A subscription that never started (`incomplete`,
`incomplete_expired`: its first payment never went through) does not use up the trial.
"""

from __future__ import annotations

from core.errors import Conflict
from core.models import PricingItem, Subscription

LIVE = ("active", "trialing", "past_due")
NEVER_STARTED = ("incomplete", "incomplete_expired")


async def refuse_second_subscription(
    item: PricingItem, consumer_key: str, consumer_tenant_id: str, *, allowed: bool
) -> None:
    if item.kind != "recurring" or allowed:
        return
    live = await Subscription.filter(
        consumer_key=consumer_key, consumer_tenant_id=consumer_tenant_id, status__in=LIVE
    ).first()
    if live is not None:
        raise Conflict(
            f"tenant '{consumer_tenant_id}' already has a {live.status} subscription "
            f"('{live.id}', on '{live.pricing_item_code}'): change it instead, or send "
            '"allowAdditionalSubscription": true for a second one',
            code="subscription_exists",
        )


async def trial_days(item: PricingItem, consumer_key: str, consumer_tenant_id: str) -> int:
    """The item's trial, or 0 for a tenant that had a subscription with this consumer."""
    if item.trial_days <= 0:
        return 0
    had = await (
        Subscription.filter(consumer_key=consumer_key, consumer_tenant_id=consumer_tenant_id)
        .exclude(status__in=NEVER_STARTED)
        .exists()
    )
    return 0 if had else item.trial_days
