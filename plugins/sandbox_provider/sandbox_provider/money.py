"""Amounts and intervals as a buyer reads them: `€19.00 per month`."""

from __future__ import annotations

from typing import Any

ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£", "jpy": "¥", "chf": "CHF ", "ron": "RON "}


def amount(minor_units: int, currency: str) -> str:
    """Minor units in the currency's own decimals (`1900 eur` -> `€19.00`)."""
    code = currency.lower()
    digits = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    value = f"{minor_units / 10**digits:,.{digits}f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code.upper()}"


def interval(item: dict[str, Any]) -> str:
    """`per month`, `every 3 months`, or `one-time payment`."""
    unit = item.get("interval")
    if not unit:
        return "one-time payment"
    count = int(item.get("interval_count") or 1)
    return f"per {unit}" if count == 1 else f"every {count} {unit}s"
