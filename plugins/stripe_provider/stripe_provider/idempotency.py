"""Deterministic idempotency keys for every write this plugin sends to Stripe.

A key is derived from what makes the write one logical act, never drawn at random, so
our own retries, a caller's retry and two concurrent requests for the same thing all
send the same key and Stripe performs the write once (it keeps keys for 24 hours).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from core.providers import CheckoutItem

PREFIX = "platform-payments"


def derived_key(kind: str, *parts: object) -> str:
    """`platform-payments:<kind>:<48 hex>`; parts are joined unambiguously, then hashed."""
    joined = "\x1f".join(str(part) for part in parts)
    return f"{PREFIX}:{kind}:{hashlib.sha256(joined.encode()).hexdigest()[:48]}"


def customer_key(provider_key: str, consumer_key: str, consumer_tenant_id: str) -> str:
    """One Stripe customer per (provider key, consumer key, tenant)."""
    return derived_key("customer", provider_key, consumer_key, consumer_tenant_id)


def replacement_customer_key(
    provider_key: str, consumer_key: str, consumer_tenant_id: str, gone_customer_id: str
) -> str:
    """The tenant's new customer after its old one was deleted at Stripe (one per old one)."""
    return derived_key(
        "customer-replacement", provider_key, consumer_key, consumer_tenant_id, gone_customer_id
    )


def customer_details_key(customer_key: str, params: Mapping[str, Any]) -> str:
    """The fallback key of a customer: the tenant's key plus the details sent."""
    details = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return derived_key("customer", customer_key, details)


def price_version(provider_key: str, item: CheckoutItem) -> tuple[object, ...]:
    """What makes one version of an item's price: a new amount or interval is a new price.

    The item's code stands for the item: it is unique and can never change.
    """
    return (
        provider_key,
        item.code,
        item.unit_amount,
        item.currency,
        item.interval or "-",
        item.interval_count,
    )


def product_key(version: tuple[object, ...]) -> str:
    return derived_key("product", *version)


def price_key(version: tuple[object, ...]) -> str:
    return derived_key("price", *version)
