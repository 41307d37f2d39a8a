"""Sending the sandbox's events to the service's own webhook, over real HTTP, in order.

An action (Pay, a renewal...) stores its events as pending in the same transaction as the
state change; then `flush` POSTs every pending event of the provider key, oldest first, to
`<public_url>/webhooks/<key>`, signed, and marks each accepted one sent. An event the
service did not accept stays pending and goes first on the next flush, as a provider retries.
Waiting for the answer is the point: when Pay redirects, the tenant is already entitled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import orjson

from core.models import SandboxObject
from sandbox_provider import signing, store

PENDING_BATCH = 200


class DeliveryFailed(Exception):
    """The service's webhook did not accept an event (unreachable, or a non-2xx answer)."""


@dataclass(frozen=True)
class Target:
    provider_key: str
    url: str
    secret: str
    timeout: float


class EventSender:
    """One per provider key: an HTTP client, and a lock so one process sends in order."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.target.timeout)
            )
        return self._http

    async def flush(self) -> int:
        """Send every pending event in order; `DeliveryFailed` at the first one refused."""
        async with self._lock:
            pending = await SandboxObject.filter(
                provider_key=self.target.provider_key, kind=store.PENDING_EVENT
            ).limit(PENDING_BATCH)
            pending.sort(key=lambda row: (float(row.data.get("created") or 0), row.id))
            for row in pending:
                await self._send(row)
                row.kind = store.EVENT
                await row.save(update_fields=["kind", "updated_at"])
            return len(pending)

    async def _send(self, row: SandboxObject) -> None:
        body = orjson.dumps(row.data)
        headers = {
            "content-type": "application/json",
            signing.SIGNATURE_HEADER: signing.sign(body, self.target.secret),
        }
        try:
            async with self._client().post(self.target.url, data=body, headers=headers) as answer:
                text = (await answer.content.read(2048)).decode(errors="replace")
                status = answer.status
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DeliveryFailed(
                f"POST {self.target.url} failed: {error.__class__.__name__} {error}".strip()
            ) from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"POST {self.target.url} answered {status}: {text}")
