"""What every action shares: the provider's idempotency key, one action per object at a
time, and applying the provider's answer.

The key joins the caller's request key with what the action is and what it is about, so
the caller's retry (same `Idempotency-Key`) reaches the provider as the same request, and a
key reused for another object or another action never is.

Actions on one object run one after the other in this process: each applies its answer
before the next asks the provider, so the last answer applied is the provider's last state
(two actions at once end with local state equal to the provider's). Across processes the
provider's webhooks, which follow every action, bring the record to the final state.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.errors import ProviderNotConfigured
from core.facts import Fact
from core.ingest.observed import apply_read
from core.providers import PaymentProvider

_LOCKS: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def action_key(kind: str, request_key: str, *parts: object) -> str:
    """`platform-payments:<kind>:<48 hex>` for one logical action."""
    joined = "\x1f".join(str(part) for part in (request_key, *parts))
    return f"platform-payments:{kind}:{hashlib.sha256(joined.encode()).hexdigest()[:48]}"


@asynccontextmanager
async def one_at_a_time(provider_key: str, object_id: str) -> AsyncIterator[None]:
    """Hold the in-process lock of one provider object for an action."""
    lock = _LOCKS.get((provider_key, object_id))
    if lock is None:
        lock = _LOCKS[(provider_key, object_id)] = asyncio.Lock()
    async with lock:
        yield


def require(provider: PaymentProvider, capability: str) -> None:
    """422 `capability_unsupported` or 503 before anything is asked or written."""
    if capability not in provider.capabilities:
        raise provider.unsupported(capability)
    if not provider.configured:
        raise ProviderNotConfigured(
            f"provider '{provider.key}' is not configured: it cannot do {capability}"
        )


async def apply_answer(provider_key: str, fact: Fact) -> None:
    """The provider's answer, applied as its webhook would be (at the provider's time of
    it, or at this service's clock when the provider gives none)."""
    await apply_read(provider_key, [fact])
