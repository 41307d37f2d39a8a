"""Sends one normalized event to FunnelAI's `POST /api/internal/payments/events`.

Headers: `x-platform-internal-token`, and when a signing secret is set the Standard
Webhooks trio (`webhook-id` = the event id, stable across retries; `webhook-timestamp`;
`webhook-signature`), made by the `standardwebhooks` library so FunnelAI can verify with
the same library.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict
from standardwebhooks.webhooks import Webhook

from core.config import Settings
from core.consumers import DeliveryOutcome, EventConsumer, OutgoingEvent

RESPONSE_BODY_LIMIT = 4096


class FunnelSettings(BaseModel):
    """`[consumers.funnel]` in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    events_url: str | None = None
    """Where events go (`PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL`); unset: the consumer is not configured."""
    token: str | None = None
    """Sent as `x-platform-internal-token` (the platform's internal token)."""
    signing_secret: str | None = None
    """Standard Webhooks secret (`whsec_...`); unset: deliveries are not signed."""
    event_types: list[str] | None = None
    """Only these event types; unset: all."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class HttpEventConsumer(EventConsumer):
    """POSTs the event's JSON to a URL with the internal token and an optional signature."""

    def __init__(self, key: str, plugin_name: str, settings: FunnelSettings) -> None:
        super().__init__(key, plugin_name)
        self.settings = settings
        self._signer = Webhook(settings.signing_secret) if settings.signing_secret else None

    @property
    def configured(self) -> bool:
        return bool(self.settings.events_url)

    def wants(self, event_type: str) -> bool:
        types = self.settings.event_types
        return types is None or event_type in types

    def headers(self, event: OutgoingEvent) -> dict[str, str]:
        headers = {"content-type": "application/json", "webhook-id": event.event_id}
        if self.settings.token:
            headers["x-platform-internal-token"] = self.settings.token
        if self._signer is not None:
            now = datetime.fromtimestamp(int(time.time()), UTC)
            headers["webhook-timestamp"] = str(int(now.timestamp()))
            headers["webhook-signature"] = self._signer.sign(
                event.event_id, now, event.body.decode()
            )
        return headers

    async def deliver(
        self, event: OutgoingEvent, http: aiohttp.ClientSession, attempt_timeout: float
    ) -> DeliveryOutcome:
        if not self.settings.events_url:
            return DeliveryOutcome(
                None, error=f"consumer '{self.key}' has no events URL configured"
            )
        try:
            async with http.post(
                self.settings.events_url,
                data=event.body,
                headers=self.headers(event),
                timeout=aiohttp.ClientTimeout(total=attempt_timeout),
            ) as response:
                body = (await response.content.read(RESPONSE_BODY_LIMIT)).decode(errors="replace")
                return DeliveryOutcome(
                    response.status,
                    error=None if 200 <= response.status < 300 else f"HTTP {response.status}",
                    response_body=body,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                )
        except TimeoutError:
            return DeliveryOutcome(None, error=f"timed out after {attempt_timeout:g}s")
        except (aiohttp.ClientError, OSError) as error:
            return DeliveryOutcome(None, error=f"{type(error).__name__}: {error}")


class FunnelConsumer(HttpEventConsumer):
    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> FunnelConsumer:
        return cls(key, "funnel", settings)
