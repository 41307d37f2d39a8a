"""Refund some or all of what is left of a one-time purchase.

The amount is checked against the record before the provider is asked: more than is left
(or anything, when nothing is) is 422 `refund_exceeds_remaining`; a purchase that was never
paid is 409 `purchase_not_paid`. The provider's answer carries the payment's refunded total,
applied like `charge.refunded`, so the purchase is `partially_refunded` or `refunded` at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Conflict, Unprocessable
from core.managing.requests import action_key, apply_answer, one_at_a_time, require
from core.managing.targets import purchase_of
from core.models import Purchase
from core.plugins import Registry
from core.providers import CAPABILITY_REFUND, RefundReason, RefundRequest

REFUNDABLE = frozenset({"paid", "partially_refunded", "refunded"})


@dataclass(frozen=True)
class RefundInput:
    purchase_id: str
    consumer_key: str | None
    amount: int | None
    """None: all that is left."""
    reason: RefundReason | None
    request_key: str


async def refund(registry: Registry, data: RefundInput) -> Purchase:
    record = await purchase_of(data.purchase_id, data.consumer_key, list(registry.providers))
    provider = registry.provider(record.provider_key)
    require(provider, CAPABILITY_REFUND)
    async with one_at_a_time(provider.key, record.provider_payment_id):
        await record.refresh_from_db()
        if record.status not in REFUNDABLE:
            raise Conflict(
                f"purchase '{record.id}' is {record.status}: only a paid purchase can be refunded",
                code="purchase_not_paid",
            )
        left = record.amount - record.amount_refunded
        amount = left if data.amount is None else data.amount
        if left <= 0 or amount > left:
            raise Unprocessable(
                f"purchase '{record.id}' has {left} {record.currency} left to refund; "
                f"{amount} was asked",
                code="refund_exceeds_remaining",
            )
        key = action_key("refund", data.request_key, record.id, amount, data.reason or "")
        answer = await provider.refund_payment(
            RefundRequest(
                provider_payment_id=record.provider_payment_id,
                amount=amount,
                reason=data.reason,
                idempotency_key=key,
            )
        )
        await apply_answer(provider.key, answer)
        await record.refresh_from_db()
        return record
