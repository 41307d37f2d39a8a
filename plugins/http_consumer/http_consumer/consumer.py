"""POSTs one normalized event to a consumer's URL, signed the Standard Webhooks way.

Headers: `content-type: application/json`, `x-platform-internal-token` when a token is
set, and `webhook-id` (the event id, stable across retries, so consumers dedupe on it).
With a signing secret also `webhook-timestamp` and `webhook-signature`, made by the
`standardwebhooks` library so consumers can verify with the same library. The body is
the bytes the dispatcher serialized once, so every attempt signs the same bytes.

    [consumers.billing_app]
    plugin = "http"
    events_url = "${BILLING_APP_EVENTS_URL}"
    token = "${PAYMENTS_INTERNAL_TOKEN}"
    signing_secret = "${BILLING_APP_SIGNING_SECRET}"
    event_types = ["subscription.updated", "subscription.canceled"]
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, field_validator
from standardwebhooks.webhooks import Webhook

from core.config import Settings
from core.consumers import DeliveryOutcome, EventConsumer, OutgoingEvent
from core.events import EVENT_TYPES

RESPONSE_BODY_LIMIT = 4096
"""Bytes of the consumer's answer kept with the attempt (enough to see its error)."""


class HttpConsumerSettings(BaseModel):
    """`[consumers.KEY]` with `plugin = "http"` (and the FunnelAI plugin) in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    events_url: str | None = None
    """Where events are POSTed; unset: the consumer is not configured and its deliveries wait."""
    token: str | None = None
    """Sent as `x-platform-internal-token`."""
    signing_secret: str | None = None
    """Standard Webhooks secret (`whsec_` + base64); unset: deliveries are not signed."""
    event_types: list[str] | None = None
    """Only these event types are sent; unset: all. Others wait, pending, for a consumer that wants them."""

    @field_validator("events_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None

    @field_validator("signing_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            Webhook(value)
        except Exception:  # bad base64, empty: the library's own errors vary
            raise ValueError("must be a Standard Webhooks secret (whsec_ + base64)") from None
        return value

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = sorted(set(value) - set(EVENT_TYPES))
            if unknown:
                raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
        return value


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> str:
    """Up to `limit` bytes of the answer, without reading (or buffering) the rest."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = await response.content.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks).decode(errors="replace")


class HttpEventConsumer(EventConsumer):
    """One consumer key sending to one URL."""

    def __init__(self, key: str, plugin_name: str, settings: HttpConsumerSettings) -> None:
        super().__init__(key, plugin_name)
        self.settings = settings
        self._signer = Webhook(settings.signing_secret) if settings.signing_secret else None

    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> HttpEventConsumer:
        return cls(key, "http", settings)

    @property
    def configured(self) -> bool:
        return bool(self.settings.events_url)

    def wants(self, event_type: str) -> bool:
        types = self.settings.event_types
        return types is None or event_type in types

    def headers(self, event: OutgoingEvent, now: datetime | None = None) -> dict[str, str]:
        """The request headers; signed with a fresh timestamp on every attempt."""
        headers = {"content-type": "application/json", "webhook-id": event.event_id}
        if self.settings.token:
            headers["x-platform-internal-token"] = self.settings.token
        if self._signer is not None:
            signed_at = (now or datetime.now(UTC)).replace(microsecond=0)
            headers["webhook-timestamp"] = str(int(signed_at.timestamp()))
            headers["webhook-signature"] = self._signer.sign(
                event.event_id, signed_at, event.body.decode()
            )
        return headers

    async def deliver(
        self, event: OutgoingEvent, http: aiohttp.ClientSession, attempt_timeout: float
    ) -> DeliveryOutcome:
        url = self.settings.events_url
        if not url:
            return DeliveryOutcome(
                None, error=f"consumer '{self.key}' has no events URL configured"
            )
        try:
            async with http.post(
                url,
                data=event.body,
                headers=self.headers(event),
                timeout=aiohttp.ClientTimeout(total=attempt_timeout),
                allow_redirects=False,
            ) as response:
                body = await _read_limited(response, RESPONSE_BODY_LIMIT)
                ok = 200 <= response.status < 300
                return DeliveryOutcome(
                    response.status,
                    error=None if ok else f"HTTP {response.status}",
                    response_body=body,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
        except TimeoutError:
            return DeliveryOutcome(None, error=f"timed out after {attempt_timeout:g}s")
        except (aiohttp.ClientError, OSError) as error:
            return DeliveryOutcome(None, error=f"{type(error).__name__}: {error}")
