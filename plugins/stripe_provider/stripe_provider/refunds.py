"""Refunds of a one-time payment (a payment intent): what we send, and the fact we answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe.params import RefundCreateParams

from core.facts import RefundFact
from core.providers import RefundRequest
from stripe_provider.metadata import metadata_of


def refund_params(request: RefundRequest, metadata: Mapping[str, str]) -> RefundCreateParams:
    """A refund of `amount` of the payment intent's charge, with the intent's tenant
    metadata (so the refund names its tenant in the dashboard and in its events)."""
    params: RefundCreateParams = {
        "payment_intent": request.provider_payment_id,
        "amount": request.amount,
        "metadata": dict(metadata),
    }
    if request.reason:
        params["reason"] = request.reason
    return params


def refunded_fact(
    provider_payment_id: str, charge: Mapping[str, Any], intent_metadata: Any
) -> RefundFact:
    """The payment's refunded total from its charge, with the intent's metadata (what the
    checkout put on it: the charge carries none of its own)."""
    return RefundFact(
        provider_payment_id=provider_payment_id,
        amount=int(charge.get("amount") or 0),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        metadata=metadata_of(intent_metadata),
    )
