"""Stripe's failures as the contract's 502 `provider_error`: Stripe's message, nothing secret.

The message is what Stripe said to show (`Your card was declined.`), or a plain
sentence of ours when Stripe said nothing usable. Anything that looks like a key is
blanked out, and no traceback or raw body ever reaches the caller.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import stripe

from core.errors import ProviderError
from stripe_provider.client import timed_out

log = logging.getLogger("platform_payments.stripe")

_SECRET = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


def scrub(message: str) -> str:
    """The message with anything shaped like a Stripe key or secret blanked out."""
    return _SECRET.sub("[redacted]", message)


def _stripe_message(error: stripe.StripeError) -> str | None:
    body: Any = error.json_body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message: str = inner["message"]
            return message.strip() or None
    return None


def provider_error(error: BaseException, provider_key: str) -> ProviderError:
    """The 502 to answer for a failed Stripe call (logged here with Stripe's request id)."""
    if isinstance(error, stripe.StripeError):
        log.warning(
            "stripe call of provider %s failed: %s status=%s request_id=%s",
            provider_key,
            type(error).__name__,
            error.http_status,
            error.request_id,
        )
    else:
        log.warning("stripe call of provider %s failed: %r", provider_key, error)
    if timed_out(error):
        return ProviderError(
            "Stripe did not answer in time; the request may still complete at Stripe, "
            "so retry with the same Idempotency-Key"
        )
    if isinstance(error, stripe.APIConnectionError | aiohttp.ClientError | OSError):
        return ProviderError("could not reach Stripe: the connection failed or was dropped")
    if isinstance(error, stripe.AuthenticationError):
        return ProviderError(
            f"Stripe refused the secret key of provider '{provider_key}' (check its secret_key)"
        )
    if isinstance(error, stripe.StripeError):
        said = _stripe_message(error)
        if said:
            return ProviderError(scrub(said))
        return ProviderError(
            f"Stripe answered HTTP {error.http_status or 'error'} without a message"
        )
    return ProviderError("the call to Stripe failed unexpectedly")
