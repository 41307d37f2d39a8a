"""Writes held back in a transaction (`core.store.sql.later`): seen by every later statement of the
transaction, sent at commit as one statement, forgotten on rollback."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.models import ProviderCustomer
from core.store import records, sql


def _customer(n: int, customer_id: str | None = None) -> ProviderCustomer:
    return ProviderCustomer(
        provider_key="stripe",
        consumer_key="funnel",
        consumer_tenant_id=f"tenant_{n}",
        provider_customer_id=customer_id or f"cus_{n}",
    )


def _held(conn: Any) -> list[Any]:
    held: list[Any] = getattr(conn, sql.LATER)
    return held


async def test_a_held_back_insert_is_seen_by_the_next_read_of_any_kind(database: str) -> None:
    async with in_transaction() as conn:
        await records.insert(conn, _customer(1))
        assert len(_held(conn)) == 1  # nothing sent yet
        await records.insert(conn, _customer(2))
        assert len(_held(conn)) == 1  # one insert per table and statement: the first went
        found = await records.find(
            conn, ProviderCustomer, provider_key="stripe", provider_customer_id="cus_1"
        )
        assert found is not None and _held(conn) == []
        await records.insert(conn, _customer(3))
        orm = await ProviderCustomer.filter(provider_customer_id="cus_3").using_db(conn).count()
        assert orm == 1  # the ORM's own statements send what was held back first
    assert await ProviderCustomer.all().count() == 3


async def test_commit_sends_what_was_held_back_and_rollback_forgets_it(database: str) -> None:
    async with in_transaction() as conn:
        await records.insert(conn, _customer(1))
        await records.insert_later_unless_exists(conn, _customer(1))  # the same keys: kept once
        await sql.notify_later(conn, "payments_test_channel", "tenant_1")
    assert await ProviderCustomer.all().count() == 1

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        async with in_transaction() as conn:
            await records.insert(conn, _customer(2))
            raise Stop
    assert await ProviderCustomer.filter(consumer_tenant_id="tenant_2").count() == 0


async def test_a_clash_held_back_fails_the_commit_and_keeps_nothing(database: str) -> None:
    await records.create(await _outside(), ProviderCustomer, **_fields(_customer(1, "cus_taken")))
    with pytest.raises(IntegrityError):
        async with in_transaction() as conn:
            await records.insert(conn, _customer(2))
            await records.insert(conn, _customer(3, "cus_taken"))  # unique customer id
    assert await ProviderCustomer.all().count() == 1


async def test_a_savepoint_sends_what_was_held_back_before_it_begins(database: str) -> None:
    async with in_transaction() as conn:
        await records.insert(conn, _customer(1))
        with pytest.raises(RuntimeError):
            async with in_transaction():
                raise RuntimeError("the savepoint rolls back, the outer insert stays")
    assert await ProviderCustomer.all().count() == 1


def test_held_back_writes_go_as_one_statement_on_postgres() -> None:
    shape = (
        ("INSERT INTO a (x, y) VALUES ($1, $2)", 2),
        ("", 2),
        ("INSERT INTO b (x, y) VALUES ($1, $1)", 1),
    )
    assert sql._combined(shape) == (
        "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), "
        "w1 AS (INSERT INTO b (x, y) VALUES ($5, $5)) SELECT pg_notify($3, $4)"
    )


async def _outside() -> Any:
    from tortoise import connections

    return connections.get("default")


def _fields(record: ProviderCustomer) -> dict[str, Any]:
    return {
        name: getattr(record, name)
        for name in ("provider_key", "consumer_key", "consumer_tenant_id", "provider_customer_id")
    }


async def test_while_a_savepoint_is_open_the_outer_handle_holds_nothing_back(
    database: str,
) -> None:
    """A write through the outer transaction during a savepoint is part of the savepoint."""
    async with in_transaction() as outer:
        with pytest.raises(RuntimeError):
            async with in_transaction():
                await records.insert(outer, _customer(1))
                raise RuntimeError("undo the savepoint")
        await records.insert(outer, _customer(2))
        assert len(_held(outer)) == 1  # holding back again once the savepoint is over
    assert [c.consumer_tenant_id for c in await ProviderCustomer.all()] == ["tenant_2"]
