"""The outbox: an event and its pending delivery written in the writer's transaction, the
dispatchers told at its commit and never for a rollback (the wake itself is in
`tests/store/test_unit_of_work.py`)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.delivery.outbox import NOTIFY_CHANNEL, record_event
from core.models import EventDelivery, NormalizedEvent
from core.models.delivery import PENDING
from core.store.unit_of_work import unit_of_work
from core.timeutil import utcnow


class _Boom(Exception):
    pass


async def _record(tenant: str = "tenant_1", event_type: str = "subscription.updated") -> None:
    async with unit_of_work() as conn:
        await _write(conn, tenant, event_type)


async def _write(conn: object, tenant: str, event_type: str = "subscription.updated") -> None:
    await record_event(
        event_type,
        provider_key="stripe",
        provider_event_id="evt_1",
        consumer_key="funnel",
        consumer_tenant_id=tenant,
        occurred_at=utcnow(),
        data={"subscription": {"status": "active"}, "pricingItemCode": "starter"},
        using_db=conn,  # type: ignore[arg-type]
    )


async def test_an_event_and_one_pending_delivery_are_written(database: str) -> None:
    await _record()
    event = await NormalizedEvent.get()
    delivery = await EventDelivery.get()
    assert (event.type, event.consumer_tenant_id, event.data["pricingItemCode"]) == (
        "subscription.updated",
        "tenant_1",
        "starter",
    )
    assert await EventDelivery.filter(event=event).count() == 1
    assert (delivery.status, delivery.attempt_count) == (PENDING, 0)
    assert (delivery.consumer_key, delivery.event_type) == ("funnel", "subscription.updated")
    assert delivery.next_attempt_at is not None


async def test_an_unknown_type_is_refused_and_nothing_written(database: str) -> None:
    with pytest.raises(ValueError, match="unknown normalized event type"):
        await _record(event_type="subscription.exploded")
    assert await NormalizedEvent.all().count() == 0


async def test_nothing_stays_after_a_rollback(database: str) -> None:
    with pytest.raises(_Boom):
        async with unit_of_work() as conn:
            await _write(conn, "tenant_1")
            raise _Boom
    assert await NormalizedEvent.all().count() == 0
    assert await EventDelivery.all().count() == 0


@pytest.mark.postgres_only
async def test_postgres_dispatchers_hear_of_it_at_commit_only(database: str) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database.replace("postgres://", "postgresql://", 1))
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        with pytest.raises(_Boom):
            async with unit_of_work() as conn:
                await _write(conn, "tenant_1")
                raise _Boom
        async with unit_of_work() as conn:
            await _write(conn, "tenant_2")
            await asyncio.sleep(0.2)
            assert heard.empty()  # not before the commit
        assert await asyncio.wait_for(heard.get(), 5) == "funnel"
        await asyncio.sleep(0.2)
        assert heard.empty()  # once, and nothing for the rolled-back one
    finally:
        await listener.close()
