"""Helpers for delivery tests: plugins files, events, a running dispatcher, bounded waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from core.config import Settings
from core.delivery.dispatcher import Dispatcher
from core.delivery.outbox import record_event
from core.models import EventDelivery, NormalizedEvent
from core.plugins import build_plugin_manager, load_registry
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow

T = TypeVar("T")

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

FAST = {
    "PAYMENTS_DELIVERY_RETRY_SCHEDULE": "0.05,0.05,0.05",
    "PAYMENTS_DELIVERY_TIMEOUT": "0.5",
    "PAYMENTS_DELIVERY_LEASE": "5",
    "PAYMENTS_DELIVERY_POLL_INTERVAL": "0.1",
}
"""Short schedule (four attempts), timeout and poll so the suite stays fast."""


def funnel_plugins(
    events_url: str, *, signing_secret: str | None = None, token: str = "tok"
) -> str:
    secret = f'signing_secret = "{signing_secret}"\n' if signing_secret else ""
    return f"""
[consumers.funnel]
plugin = "funnel"
events_url = "{events_url}"
token = "{token}"
{secret}"""


def http_consumer(key: str, events_url: str | None, *, event_types: list[str] | None = None) -> str:
    url = f'events_url = "{events_url}"\n' if events_url else ""
    types = f"event_types = {event_types!r}\n".replace("'", '"') if event_types else ""
    return f"""
[consumers.{key}]
plugin = "http"
{url}{types}"""


async def new_event(
    consumer_key: str = "funnel",
    event_type: str = "subscription.updated",
    *,
    tenant: str = "tenant_123",
) -> NormalizedEvent:
    """One normalized event (and its pending delivery), as webhook ingest would write it: in
    a unit of work, whose commit wakes this process's dispatchers."""
    async with unit_of_work() as conn:
        return await record_event(
            event_type,
            provider_key="stripe",
            provider_event_id="evt_test",
            consumer_key=consumer_key,
            consumer_tenant_id=tenant,
            occurred_at=utcnow(),
            data={"subscription": {"status": "active"}, "pricingItemCode": "starter_month"},
            using_db=conn,
        )


async def delivery_for(event: NormalizedEvent) -> EventDelivery:
    return await EventDelivery.get(event_id=event.id)


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 15.0, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def settled(event: NormalizedEvent, status: str, within: float = 15.0) -> EventDelivery:
    """Wait until the event's delivery reaches `status`."""

    async def check() -> EventDelivery | None:
        delivery = await delivery_for(event)
        return delivery if delivery.status == status else None

    return await eventually(check, within=within, what=f"delivery {status}")


@asynccontextmanager
async def running_dispatcher(settings: Settings, **kwargs: Any) -> AsyncIterator[Dispatcher]:
    """A dispatcher for the consumers `settings`' plugins file configures, stopped after."""
    registry = load_registry(settings, build_plugin_manager())
    dispatcher = Dispatcher(settings, registry.consumers, **kwargs)
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
