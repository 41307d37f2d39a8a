"""Pricing item bodies the tests post: one copy of the monthly plan most of them sell."""

from __future__ import annotations

from typing import Any


def starter_item(**overrides: Any) -> dict[str, Any]:
    """`POST /internal/payments/pricing-items` body of the 19 EUR monthly Starter plan."""
    return {
        "code": "starter_month",
        "name": "Starter",
        "kind": "recurring",
        "unitAmount": 1900,
        "currency": "eur",
        "interval": "month",
        **overrides,
    }
