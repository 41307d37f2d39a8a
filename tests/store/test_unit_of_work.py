"""The unit of work runs what its writers registered once the commit succeeded, and only then."""

from __future__ import annotations

import uuid

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from core.billing.plan_cache import announce
from core.billing.plan_cache import cache as plan_cache
from core.delivery import outbox
from core.delivery.outbox import record_event
from core.models import NormalizedEvent, ProviderCustomer
from core.store import records
from core.store.unit_of_work import NotInUnitOfWork, after_commit, unit_of_work
from core.timeutil import utcnow


class _Boom(Exception):
    pass


def _customer(n: int) -> ProviderCustomer:
    return ProviderCustomer(
        id=uuid.uuid4(),
        provider_key="stripe",
        provider_customer_id=f"cus_{n}",
        consumer_key="funnel",
        consumer_tenant_id=f"tenant_{n}",
        created_at=utcnow(),
        updated_at=utcnow(),
    )


async def test_effects_run_after_the_commit_once_per_key_in_order(database: str) -> None:
    seen: list[str] = []

    async def saw_the_row() -> None:
        seen.append(f"row:{await ProviderCustomer.filter(provider_customer_id='cus_1').exists()}")

    async with unit_of_work() as conn:
        await records.insert(conn, _customer(1))
        after_commit(conn, "first", lambda: seen.append("first"))
        after_commit(conn, "row", saw_the_row)
        after_commit(conn, "first", lambda: seen.append("first again"))
        assert seen == []
    assert seen == ["first", "row:True"]


async def test_no_effect_runs_after_a_rollback(database: str) -> None:
    seen: list[str] = []
    with pytest.raises(_Boom):
        async with unit_of_work() as conn:
            await records.insert(conn, _customer(2))
            after_commit(conn, "effect", lambda: seen.append("ran"))
            raise _Boom
    assert seen == []
    assert not await ProviderCustomer.filter(provider_customer_id="cus_2").exists()


async def test_a_nested_unit_waits_for_the_outer_commit(database: str) -> None:
    seen: list[str] = []
    async with unit_of_work() as outer:
        async with unit_of_work() as inner:
            after_commit(inner, "inner", lambda: seen.append("inner"))
        assert seen == []
        after_commit(outer, "outer", lambda: seen.append("outer"))
    assert seen == ["inner", "outer"]


async def test_registering_outside_a_unit_of_work_raises(database: str) -> None:
    with pytest.raises(NotInUnitOfWork):
        after_commit(connections.get("default"), "effect", lambda: None)
    async with in_transaction() as conn:
        with pytest.raises(NotInUnitOfWork):
            await record_event(
                "subscription.updated",
                provider_key="stripe",
                provider_event_id=None,
                consumer_key="funnel",
                consumer_tenant_id="tenant_1",
                occurred_at=utcnow(),
                data={},
                using_db=conn,
            )


async def test_an_event_wakes_the_dispatcher_only_once_committed(database: str) -> None:
    woken: list[int] = []
    stop = outbox.on_local_wake(lambda: woken.append(len(woken)))
    try:
        async with unit_of_work() as conn:
            for tenant in ("tenant_1", "tenant_2"):
                await record_event(
                    "subscription.updated",
                    provider_key="stripe",
                    provider_event_id=None,
                    consumer_key="funnel",
                    consumer_tenant_id=tenant,
                    occurred_at=utcnow(),
                    data={},
                    using_db=conn,
                )
            assert woken == []
        assert woken == [0]
        with pytest.raises(_Boom):
            async with unit_of_work() as conn:
                await record_event(
                    "subscription.updated",
                    provider_key="stripe",
                    provider_event_id=None,
                    consumer_key="funnel",
                    consumer_tenant_id="tenant_3",
                    occurred_at=utcnow(),
                    data={},
                    using_db=conn,
                )
                raise _Boom
        assert woken == [0]
    finally:
        stop()
    assert await NormalizedEvent.all().count() == 2


async def test_announce_drops_cached_answers_after_the_commit_only(database: str) -> None:
    plan_cache.set_enabled(True)
    try:
        plan_cache.put(
            "tenant_1", None, b"{}", read_at_generation=plan_cache.generation, valid_for=None
        )
        with pytest.raises(_Boom):
            async with unit_of_work() as conn:
                await announce(conn, ["tenant_1"])
                raise _Boom
        assert plan_cache.get("tenant_1", None) == b"{}"
        async with unit_of_work() as conn:
            await announce(conn, ["tenant_1"])
            assert plan_cache.get("tenant_1", None) == b"{}"
        assert plan_cache.get("tenant_1", None) is None
    finally:
        plan_cache.set_enabled(False)
