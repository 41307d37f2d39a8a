"""The sandbox's objects rendered for its JSON routes (camelCase, ISO-8601 UTC)."""

from __future__ import annotations

from typing import Any

from core.facts import CONSUMER_KEY, CONSUMER_TENANT_ID, PRICING_ITEM_CODE
from core.timeutil import from_unix, isoformat
from sandbox_provider import objects


def _time(value: Any) -> str | None:
    return isoformat(from_unix(value)) if isinstance(value, int | float) else None


def subscription(
    provider_key: str, data: dict[str, Any], invoice: dict[str, Any] | None
) -> dict[str, Any]:
    metadata = objects.metadata_of(data.get("metadata"))
    return {
        "id": data["id"],
        "providerKey": provider_key,
        "status": data.get("status"),
        "customer": data.get("customer"),
        "pricingItemCode": metadata.get(PRICING_ITEM_CODE),
        "consumerKey": metadata.get(CONSUMER_KEY),
        "consumerTenantId": metadata.get(CONSUMER_TENANT_ID),
        "currentPeriodStart": _time(data.get("current_period_start")),
        "currentPeriodEnd": _time(data.get("current_period_end")),
        "cancelAtPeriodEnd": bool(data.get("cancel_at_period_end")),
        "canceledAt": _time(data.get("canceled_at")),
        "endedAt": _time(data.get("ended_at")),
        "trialEnd": _time(data.get("trial_end")),
        "latestInvoice": None
        if invoice is None
        else {
            "id": invoice["id"],
            "status": invoice.get("status"),
            "amountDue": invoice.get("amount_due"),
            "currency": invoice.get("currency"),
            "periodStart": _time(invoice.get("period_start")),
            "periodEnd": _time(invoice.get("period_end")),
        },
    }


def checkout_session(provider_key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "providerKey": provider_key,
        "status": data.get("status"),
        "mode": data.get("mode"),
        "paymentStatus": data.get("payment_status"),
        "url": data.get("url"),
        "subscription": data.get("subscription"),
        "paymentIntent": data.get("payment_intent"),
        "expiresAt": _time(data.get("expires_at")),
    }


def dispute(provider_key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "providerKey": provider_key,
        "status": data.get("status"),
        "reason": data.get("reason"),
        "amount": data.get("amount"),
        "currency": data.get("currency"),
        "charge": data.get("charge"),
        "paymentIntent": data.get("payment_intent"),
        "createdAt": _time(data.get("created")),
    }
