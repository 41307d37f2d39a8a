"""FunnelAI's consumer: the generic HTTP consumer under the plugin name `funnel`.

FunnelAI receives events at `POST /api/internal/payments/events`
(`PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL`), with `x-platform-internal-token` and, when
`PAYMENTS_CONSUMER_FUNNEL_SIGNING_SECRET` is set, the Standard Webhooks headers. All of
the sending and signing is `http_consumer`'s; this plugin only names it, so the
`[consumers.funnel]` table keeps working as it always has.
"""

from __future__ import annotations

from typing import Any

from http_consumer.consumer import HttpConsumerSettings, HttpEventConsumer

from core.config import Settings


class FunnelSettings(HttpConsumerSettings):
    """`[consumers.funnel]` in plugins.toml (the same settings as the `http` plugin)."""


class FunnelConsumer(HttpEventConsumer):
    @classmethod
    def build(cls, key: str, settings: Any, service: Settings) -> FunnelConsumer:
        return cls(key, "funnel", settings)
