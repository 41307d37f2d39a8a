"""The hand-written record SQL of the hot paths behaves as the ORM calls it replaced."""

from __future__ import annotations

from tortoise import connections
from tortoise.transactions import in_transaction

from core.models import ProviderCustomer, ProviderEvent, Subscription
from core.store import records
from core.timeutil import utcnow
from tests.support.billing import subscription


async def test_find_returns_the_same_record_as_the_orm(database: str) -> None:
    created = await subscription(1)
    async with in_transaction() as conn:
        found = await records.find(
            conn,
            Subscription,
            for_update=True,
            provider_key="stripe",
            provider_subscription_id="sub_1",
        )
        missing = await records.find(
            conn, Subscription, provider_key="stripe", provider_subscription_id="sub_2"
        )
    orm = await Subscription.get(id=created.id)
    assert found is not None and missing is None
    assert {n: getattr(found, n) for n in Subscription._meta.fields_db_projection} == {
        n: getattr(orm, n) for n in Subscription._meta.fields_db_projection
    }


async def test_save_fields_writes_only_the_fields_named(database: str) -> None:
    record = await subscription(1)
    before = await Subscription.get(id=record.id)
    record.status, record.pricing_item_code = "past_due", "pro"
    await records.save_fields(connections.get("default"), record, ["status"])
    after = await Subscription.get(id=record.id)
    assert (after.status, after.pricing_item_code) == ("past_due", "starter")
    assert after.updated_at == before.updated_at  # not named, not moved
    await records.save_fields(
        connections.get("default"), record, ["pricing_item_code", "updated_at"]
    )
    moved = await Subscription.get(id=record.id)
    assert moved.pricing_item_code == "pro" and moved.updated_at > before.updated_at


async def test_insert_unless_exists_writes_once(database: str) -> None:
    def event(status: str) -> ProviderEvent:
        return ProviderEvent(
            provider_key="stripe",
            provider_event_id="evt_1",
            type="customer.created",
            event_created_at=utcnow(),
            payload="{}",
            status=status,
        )

    conn = connections.get("default")
    assert await records.insert_unless_exists(
        conn, event("ignored"), ("provider_key", "provider_event_id")
    )
    assert not await records.insert_unless_exists(
        conn, event("processed"), ("provider_key", "provider_event_id")
    )
    stored = await ProviderEvent.all()
    assert [(e.status, e.received_at is not None) for e in stored] == [("ignored", True)]


async def test_insert_unless_exists_without_a_target_yields_to_any_unique_key(
    database: str,
) -> None:
    def customer(tenant: str, customer_id: str) -> ProviderCustomer:
        return ProviderCustomer(
            provider_key="stripe",
            consumer_key="funnel",
            consumer_tenant_id=tenant,
            provider_customer_id=customer_id,
        )

    conn = connections.get("default")
    assert await records.insert_unless_exists(conn, customer("t1", "cus_1"))
    assert not await records.insert_unless_exists(conn, customer("t1", "cus_2"))  # tenant known
    assert not await records.insert_unless_exists(conn, customer("t2", "cus_1"))  # id known
    assert await records.insert_unless_exists(conn, customer("t2", "cus_2"))
    pairs = (
        await ProviderCustomer.all()
        .order_by("consumer_tenant_id")
        .values_list("consumer_tenant_id", "provider_customer_id")
    )
    assert pairs == [("t1", "cus_1"), ("t2", "cus_2")]
