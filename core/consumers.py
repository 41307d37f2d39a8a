"""The typed interface every event consumer plugin implements.

A consumer is a product backend that receives normalized payment events. The host's
dispatcher decides when to send and records every attempt; a consumer plugin decides
only how one event is sent (URL, headers, signature).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import BaseModel

from core.config import Settings


@dataclass(frozen=True)
class OutgoingEvent:
    """One normalized event ready to send: its id (stable across retries) and JSON body."""

    event_id: str
    event_type: str
    consumer_key: str
    body: bytes
    """The event serialized once, so every attempt sends (and signs) the same bytes."""


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt to send an event produced."""

    status_code: int | None
    """The consumer's HTTP status, or None when no answer came (timeout, refused)."""
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None
    """Seconds the consumer asked us to wait (`Retry-After`), if it said."""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class EventConsumer(ABC):
    """One configured consumer key (for example `funnel`)."""

    def __init__(self, key: str, plugin_name: str) -> None:
        self.key = key
        self.plugin_name = plugin_name

    @property
    @abstractmethod
    def configured(self) -> bool:
        """True when it knows where to send events."""

    def wants(self, event_type: str) -> bool:
        """Whether this consumer receives events of this type (all, by default)."""
        return True

    @abstractmethod
    async def deliver(
        self, event: OutgoingEvent, http: aiohttp.ClientSession, attempt_timeout: float
    ) -> DeliveryOutcome:
        """Send one event once; never raise for a network failure, report it in the outcome."""


@dataclass(frozen=True)
class ConsumerPlugin:
    """What a consumer plugin registers: a name for `plugins.toml` and a factory."""

    name: str
    settings: type[BaseModel]
    build: Callable[[str, Any, Settings], EventConsumer]
    """`build(consumer_key, validated_settings, service_settings)`."""
