"""`payments prune`: what is older than the cut goes (payloads only, for provider events);
what is newer, or not final, stays; a dry run changes nothing; batches cover everything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from core.models import DeliveryAttempt, EventDelivery, IdempotencyKey, ProviderEvent
from core.models.delivery import DELIVERED, FAILED, PENDING
from core.retention import prune
from core.timeutil import utcnow
from tests.support.deliveries import new_event
from tests.support.processes import run_payments

OLD = timedelta(days=40)
RECENT = timedelta(days=1)


async def _delivery(status: str, age: timedelta, attempts: int = 2) -> str:
    event = await new_event("funnel")
    delivery = await EventDelivery.get(event_id=event.id)
    for number in range(1, attempts + 1):
        await DeliveryAttempt.create(
            delivery=delivery, number=number, started_at=utcnow(), duration_ms=5
        )
    await EventDelivery.filter(id=delivery.id).update(status=status, created_at=utcnow() - age)
    return str(delivery.id)


async def _key(name: str, age: timedelta) -> None:
    key = await IdempotencyKey.create(
        scope="POST /x", key=name, request_hash="h", status_code=201, response_body="{}"
    )
    await IdempotencyKey.filter(id=key.id).update(created_at=utcnow() - age)


async def _event(name: str, status: str, age: timedelta) -> None:
    event = await ProviderEvent.create(
        provider_key="stripe",
        provider_event_id=name,
        type="invoice.paid",
        event_created_at=utcnow(),
        payload=f'{{"id": "{name}"}}',
        status=status,
    )
    await ProviderEvent.filter(id=event.id).update(received_at=utcnow() - age)


async def _seed() -> dict[str, str]:
    ids = {
        "old_delivered": await _delivery(DELIVERED, OLD),
        "new_delivered": await _delivery(DELIVERED, RECENT),
        "old_failed": await _delivery(FAILED, OLD),
        "old_pending": await _delivery(PENDING, OLD),
    }
    await _key("old", OLD)
    await _key("new", RECENT)
    await _event("evt_old", "processed", OLD)
    await _event("evt_new", "processed", RECENT)
    await _event("evt_old_deferred", "deferred", OLD)
    await _event("evt_old_ignored", "ignored", OLD)
    return ids


async def _snapshot() -> tuple[object, ...]:
    return (
        sorted(str(d.id) for d in await EventDelivery.all()),
        await DeliveryAttempt.all().count(),
        sorted(k.key for k in await IdempotencyKey.all()),
        sorted((e.provider_event_id, e.status, e.payload) for e in await ProviderEvent.all()),
    )


async def test_a_dry_run_counts_and_changes_nothing(database: str) -> None:
    await _seed()
    before = await _snapshot()

    report = await prune(30, dry_run=True)

    assert (report.deliveries, report.attempts, report.idempotency_keys, report.payloads) == (
        1,
        2,
        1,
        1,
    )
    assert report.lines()[0] == "would delete 1 delivered deliveries and 2 attempts"
    assert await _snapshot() == before


async def test_prune_removes_only_what_is_old_and_final(database: str) -> None:
    ids = await _seed()

    report = await prune(30)

    assert (report.deliveries, report.attempts, report.idempotency_keys, report.payloads) == (
        1,
        2,
        1,
        1,
    )
    left = {str(d.id) for d in await EventDelivery.all()}
    assert left == {ids["new_delivered"], ids["old_failed"], ids["old_pending"]}
    assert await DeliveryAttempt.filter(delivery_id=ids["old_delivered"]).count() == 0
    assert await DeliveryAttempt.all().count() == 6
    assert [k.key for k in await IdempotencyKey.all()] == ["new"]
    events = {e.provider_event_id: e for e in await ProviderEvent.all()}
    assert set(events) == {"evt_old", "evt_new", "evt_old_deferred", "evt_old_ignored"}
    assert (events["evt_old"].status, events["evt_old"].payload) == ("processed", "")
    assert events["evt_new"].payload == '{"id": "evt_new"}'
    assert events["evt_old_deferred"].payload == '{"id": "evt_old_deferred"}'
    assert events["evt_old_ignored"].payload == '{"id": "evt_old_ignored"}'

    again = await prune(30)  # nothing is left to prune
    assert (again.deliveries, again.attempts, again.idempotency_keys, again.payloads) == (
        0,
        0,
        0,
        0,
    )


async def test_batches_cover_a_history_longer_than_one(database: str) -> None:
    for _ in range(5):
        await _delivery(DELIVERED, OLD, attempts=1)
    for number in range(5):
        await _key(f"k{number}", OLD)
        await _event(f"evt_{number}", "processed", OLD)

    report = await prune(30, batch=2)

    assert (report.deliveries, report.attempts, report.idempotency_keys, report.payloads) == (
        5,
        5,
        5,
        5,
    )
    assert await EventDelivery.all().count() == 0
    assert await ProviderEvent.filter(payload="").count() == 5


async def test_payments_prune_prints_what_it_did(
    database: str, clean_env: dict[str, str], plugins_file: Callable[[str], str], tmp_path: Path
) -> None:
    await _seed()
    env = {**clean_env, "PAYMENTS_DATABASE_URL": database}

    dry = run_payments("prune", "--older-than", "30", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "payments: would delete 1 delivered deliveries and 2 attempts",
        "payments: would delete 1 idempotency keys",
        "payments: would clear the payloads of 1 processed provider events",
    ]
    assert await EventDelivery.all().count() == 4

    done = run_payments("prune", "--older-than", "30", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "payments: deleted 1 delivered deliveries and 2 attempts"
    assert await EventDelivery.all().count() == 3

    refused = run_payments("prune", "--older-than", "0", env=env)
    assert refused.returncode == 2
