"""Signing the sandbox's events and checking those signatures, the way Stripe does it.

`Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Every configured
secret is tried, so one can be rotated; a timestamp further from now than the tolerance,
in the past or in the future, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from core.errors import WebhookSignatureInvalid

SIGNATURE_HEADER = "Sandbox-Signature"


def signature(body: bytes, secret: str, timestamp: int) -> str:
    payload = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Sandbox-Signature` header value for `body`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature(body, secret, stamp)}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _parts(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif name == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    tolerance: int,
    now: float | None = None,
) -> None:
    """Accept the body if any secret signed it within `tolerance` seconds; else 400."""
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookSignatureInvalid(f"missing {SIGNATURE_HEADER} header")
    timestamp, given = _parts(header)
    if timestamp is None or not given:
        raise WebhookSignatureInvalid(f"{SIGNATURE_HEADER} header is malformed")
    matched = any(
        hmac.compare_digest(signature(body, secret, timestamp), candidate)
        for secret in secrets
        for candidate in given
    )
    if not matched:
        raise WebhookSignatureInvalid(
            f"{SIGNATURE_HEADER} does not match the body under any configured webhook secret"
        )
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookSignatureInvalid(
            f"{SIGNATURE_HEADER} timestamp is older than the {tolerance}s tolerance"
        )
    if timestamp > current + tolerance:  # a clock far off, or a signature kept for later
        raise WebhookSignatureInvalid(
            f"{SIGNATURE_HEADER} timestamp is more than the {tolerance}s tolerance in the future"
        )
