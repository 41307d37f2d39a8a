"""Stripe webhook events for tests: realistic objects from Stripe's own fixtures, signed.

Objects start from `../shared/stripe/fixtures3.json` (the shapes Stripe documents) with
the fields a test cares about set; events are signed the way Stripe signs them
(`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"
NEW_API = "2025-03-31.basil"
OLD_API = "2024-06-20"
_ids = itertools.count(1)


@functools.cache
def _resources() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return loaded


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(_resources()[name])


def next_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):06d}"


def tenant_metadata(tenant: str, item: str, consumer: str = "funnel") -> dict[str, str]:
    return {"consumerKey": consumer, "consumerTenantId": tenant, "pricingItemCode": item}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int,
    event_id: str | None = None,
    api_version: str = NEW_API,
) -> dict[str, Any]:
    body = fixture("event")
    body.update(
        {
            "id": event_id or next_id("evt"),
            "type": event_type,
            "created": created,
            "api_version": api_version,
            "data": {"object": obj, "previous_attributes": {}},
        }
    )
    return body


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def checkout_session(
    session_id: str,
    *,
    mode: str,
    status: str = "complete",
    payment_status: str = "paid",
    customer: str | None = None,
    subscription: str | None = None,
    payment_intent: str | None = None,
    amount_total: int = 1900,
    currency: str = "eur",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    obj = fixture("checkout.session")
    obj.update(
        {
            "id": session_id,
            "mode": mode,
            "status": status,
            "payment_status": payment_status,
            "customer": customer,
            "subscription": subscription,
            "payment_intent": payment_intent,
            "amount_total": amount_total,
            "currency": currency,
            "metadata": metadata or {},
        }
    )
    return obj


def subscription(
    subscription_id: str,
    *,
    status: str,
    customer: str,
    period_start: int,
    period_end: int,
    metadata: dict[str, str] | None = None,
    price: str = "price_starter",
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    ended_at: int | None = None,
    trial_end: int | None = None,
    new_api: bool = True,
) -> dict[str, Any]:
    obj = fixture("subscription")
    item = obj["items"]["data"][0]
    item["price"]["id"] = price
    item["subscription"] = subscription_id
    obj.update(
        {
            "id": subscription_id,
            "status": status,
            "customer": customer,
            "metadata": metadata or {},
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": canceled_at,
            "ended_at": ended_at,
            "trial_end": trial_end,
        }
    )
    if new_api:
        item["current_period_start"], item["current_period_end"] = period_start, period_end
        obj.pop("current_period_start", None)
        obj.pop("current_period_end", None)
    else:
        item.pop("current_period_start", None)
        item.pop("current_period_end", None)
        obj["current_period_start"], obj["current_period_end"] = period_start, period_end
    return obj


def invoice(
    invoice_id: str,
    *,
    subscription_id: str,
    customer: str,
    period_start: int,
    period_end: int,
    metadata: dict[str, str] | None = None,
    new_api: bool = True,
) -> dict[str, Any]:
    obj = fixture("invoice")
    line = obj["lines"]["data"][0]
    line["period"] = {"start": period_start, "end": period_end}
    obj.update({"id": invoice_id, "customer": customer, "metadata": {}})
    if new_api:
        obj.pop("subscription", None)
        obj["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": metadata or {}, "subscription": subscription_id},
        }
    else:
        obj["parent"] = None
        obj["subscription"] = subscription_id
        obj["subscription_details"] = {"metadata": metadata or {}}
    return obj


def charge(
    charge_id: str, *, payment_intent: str, amount: int, amount_refunded: int
) -> dict[str, Any]:
    obj = fixture("charge")
    obj.update(
        {
            "id": charge_id,
            "payment_intent": payment_intent,
            "amount": amount,
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= amount,
            "metadata": {},
        }
    )
    return obj
