"""Purchases and subscriptions of tenant `t1` of `funnel`, written straight to the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.models import Purchase, Subscription
from core.timeutil import utcnow


async def purchase(n: int, **fields: Any) -> Purchase:
    values: dict[str, Any] = {
        "provider_key": "stripe",
        "provider_payment_id": f"pi_{n}",
        "consumer_key": "funnel",
        "consumer_tenant_id": "t1",
        "pricing_item_code": "lifetime",
        "amount": 100,
        "currency": "eur",
        "status": "paid",
        "paid_at": utcnow(),
    }
    values.update(fields)
    return await Purchase.create(**values)


async def subscription(n: int, **fields: Any) -> Subscription:
    values: dict[str, Any] = {
        "provider_key": "stripe",
        "provider_subscription_id": f"sub_{n}",
        "consumer_key": "funnel",
        "consumer_tenant_id": "t1",
        "pricing_item_code": "starter",
        "status": "active",
        "current_period_end": utcnow() + timedelta(days=10),
    }
    values.update(fields)
    return await Subscription.create(**values)
