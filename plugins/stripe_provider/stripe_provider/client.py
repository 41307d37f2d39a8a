"""The Stripe SDK client for one provider key, and the retry policy around its calls.

Only this module builds `stripe.StripeClient`. The API version is pinned here, once:
it is the version stripe-python 16.1.0 was generated for, so the SDK's typed objects
and the JSON Stripe sends back describe the same API. Upgrading the SDK means moving
this constant on purpose (a test compares it with the SDK's own).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import stripe
from stripe._base_address import BaseAddresses

from stripe_provider.settings import StripeSettings

STRIPE_API_VERSION = "2026-10-28.endive"
"""The Stripe API version every request of this plugin asks for (`Stripe-Version`)."""

MAX_RETRY_DELAY = 8.0

log = logging.getLogger("platform_payments.stripe")

T = TypeVar("T")


def build_client(settings: StripeSettings) -> tuple[stripe.StripeClient, stripe.AIOHTTPClient]:
    """An async-capable client on aiohttp; the SDK's own retries are off (ours are below)."""
    if not settings.secret_key:
        raise ValueError("a Stripe client needs a secret key")
    http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=settings.request_timeout))
    bases: BaseAddresses | None = None
    if settings.api_base:
        bases = {"api": settings.api_base.rstrip("/")}
    client = stripe.StripeClient(
        settings.secret_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=bases,
        http_client=http,
        max_network_retries=0,
    )
    return client, http


def replayed(answer: stripe.StripeObject) -> bool:
    """True when Stripe answered a write from its idempotency store (`Idempotent-Replayed`):
    the answer is the object as the first attempt left it, not as it is now."""
    response = answer.last_response
    if response is None:
        return False
    return any(
        name.lower() == "idempotent-replayed" and str(value).lower() == "true"
        for name, value in response.headers.items()
    )


def timed_out(error: BaseException) -> bool:
    """True when a connection error is the request timeout rather than a failed connection."""
    cause = error.__cause__
    return isinstance(error, TimeoutError) or isinstance(cause, TimeoutError)


def retryable(error: stripe.StripeError | aiohttp.ClientError) -> bool:
    """Connection failures, 429 and 409 (the same idempotency key still in flight).

    A timeout is not retried: Stripe may still be working on the request, and the
    caller's own retry (same `Idempotency-Key`, hence the same Stripe key) picks up its
    result. A 5xx is not retried either: Stripe stores the answer of a request that
    started executing under its idempotency key, so the retry would replay the same 5xx.
    """
    if isinstance(error, stripe.APIConnectionError | aiohttp.ClientError):
        # aiohttp's own errors escape the SDK when a connection breaks mid-answer.
        return not timed_out(error)
    if isinstance(error, stripe.RateLimitError):
        return True
    return isinstance(error, stripe.StripeError) and error.http_status == 409


def retry_delay(attempt: int, initial: float) -> float:
    """Exponential backoff with jitter: initial * 2^(attempt-1), between 50% and 100% of it."""
    base = min(initial * 2.0 ** (attempt - 1), MAX_RETRY_DELAY)
    return base * (0.5 + random.random() / 2)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, retries: int, initial_delay: float, what: str
) -> T:
    """Run `call`, retrying what `retryable` allows; every attempt sends the same request.

    Writes carry an explicit idempotency key, so a retried write can never act twice.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except (stripe.StripeError, aiohttp.ClientError) as error:
            if attempt >= retries or not retryable(error):
                raise
            attempt += 1
            delay = retry_delay(attempt, initial_delay)
            log.warning(
                "stripe %s failed (%s), retry %d of %d in %.2fs",
                what,
                type(error).__name__,
                attempt,
                retries,
                delay,
            )
            await asyncio.sleep(delay)
