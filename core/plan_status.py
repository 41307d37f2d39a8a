"""A tenant's plan status: what a product reads to decide what the tenant may do.

Rules (the contract's, with the choices it leaves open written down here):
- The tenant's current subscription is the best of its subscriptions: an entitling one
  (active, trialing, past_due) before any other, then the one whose period ends last,
  then the newest. `status` is that subscription's status, or `none` without any.
- `entitled` is true for active and trialing, and for past_due until
  `PAYMENTS_PAST_DUE_GRACE_DAYS` after the current period's start, which is when the renewal
  that failed was due (0 days: not entitled).
- `purchases` are the paid one-time purchases (partially refunded ones still count; fully
  refunded ones do not).
- `features` merges the plan's features (when entitled) with those of every paid one-time
  item, in the order they were paid: a number keeps the larger value, a true boolean stays
  true, anything else takes the later item's value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.models import PricingItem, Purchase, Subscription
from core.timeutil import isoformat, utcnow

ENTITLING = ("active", "trialing", "past_due")
KEEPS_FEATURES = ("paid", "partially_refunded")


def _rank(subscription: Subscription) -> tuple[int, datetime, datetime]:
    floor = datetime.min.replace(tzinfo=utcnow().tzinfo)
    return (
        1 if subscription.status in ENTITLING else 0,
        subscription.current_period_end or floor,
        subscription.created_at or floor,
    )


def is_entitled(subscription: Subscription, grace_days: int, now: datetime) -> bool:
    if subscription.status in ("active", "trialing"):
        return True
    # A renewal that failed left the subscription past_due at the start of its new period.
    since = subscription.current_period_start or subscription.current_period_end
    if subscription.status == "past_due" and since is not None:
        return now < since + timedelta(days=grace_days)
    return False


def merge_features(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        current = into.get(key)
        numbers = (int, float)
        if (
            isinstance(value, numbers)
            and isinstance(current, numbers)
            and not isinstance(value, bool)
            and not isinstance(current, bool)
        ):
            into[key] = max(current, value)
        elif isinstance(value, bool) and isinstance(current, bool):
            into[key] = current or value
        else:
            into[key] = value
    return into


async def plan_status(
    consumer_tenant_id: str, consumer_key: str | None, grace_days: int
) -> dict[str, Any]:
    """The contract's plan-status object, from two indexed queries and one item lookup."""
    now = utcnow()
    tenant = {"consumer_tenant_id": consumer_tenant_id}
    if consumer_key is not None:
        tenant["consumer_key"] = consumer_key
    subscriptions = await Subscription.filter(**tenant)
    purchases = await Purchase.filter(**tenant, status__in=KEEPS_FEATURES).order_by(
        "paid_at", "created_at"
    )
    current = max(subscriptions, key=_rank) if subscriptions else None
    codes = {p.pricing_item_code for p in purchases}
    if current is not None:
        codes.add(current.pricing_item_code)
    items = {item.code: item for item in await PricingItem.filter(code__in=codes)} if codes else {}

    entitled = current is not None and is_entitled(current, grace_days, now)
    features: dict[str, Any] = {}
    plan = None
    subscription = None
    if current is not None:
        item = items.get(current.pricing_item_code)
        plan = {
            "code": current.pricing_item_code,
            "name": item.name if item else None,
            "kind": item.kind if item else "recurring",
            "interval": item.interval if item else None,
        }
        subscription = {
            "id": str(current.id),
            "status": current.status,
            "currentPeriodEnd": isoformat(current.current_period_end),
            "cancelAtPeriodEnd": current.cancel_at_period_end,
            "trialEnd": isoformat(current.trial_end),
        }
        if entitled and item is not None:
            merge_features(features, dict(item.features))
    for purchase in purchases:
        item = items.get(purchase.pricing_item_code)
        if item is not None:
            merge_features(features, dict(item.features))
    return {
        "consumerKey": current.consumer_key if current is not None else consumer_key,
        "consumerTenantId": consumer_tenant_id,
        "entitled": entitled,
        "status": current.status if current is not None else "none",
        "plan": plan,
        "subscription": subscription,
        "purchases": [
            {"pricingItemCode": p.pricing_item_code, "paidAt": isoformat(p.paid_at)}
            for p in purchases
        ],
        "features": features,
        "evaluatedAt": isoformat(now),
    }
