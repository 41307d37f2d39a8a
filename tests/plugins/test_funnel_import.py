"""The FunnelAI legacy billing import, in process: what it writes, and what a re-run does.

Every test runs on our database's two backends; the realistic and bad-row cases also
read from both kinds of legacy source (an SQLite file and a PostgreSQL database).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from funnel_consumer.importer.options import ImportOptions
from funnel_consumer.importer.run import run_import
from funnel_consumer.importer.tally import ImportReport

from core.billing.plan_status import plan_status
from core.models import (
    EventDelivery,
    ImportProgress,
    NormalizedEvent,
    ProviderCustomer,
    Purchase,
    Subscription,
)
from tests.support.legacy_billing import (
    Legacy,
    LegacySources,
    execute,
    generate,
    seed_catalog,
    snapshot,
    tenant_id,
)

LEGACY_KINDS = ["sqlite", "postgres"]


@pytest.fixture
async def sources(database: str, tmp_path: Path) -> AsyncIterator[LegacySources]:
    """Legacy sources for this test, over our emptied database with the catalog seeded."""
    await seed_catalog()
    made = LegacySources(tmp_path)
    yield made
    await made.close()


async def run(url: str, **options: Any) -> ImportReport:
    return await run_import(ImportOptions(source_url=url, **options))


async def assert_plan_status_matches(legacy: Legacy, every: int = 5) -> None:
    sampled = sorted(legacy.expected)[::every]
    assert sampled
    for tenant in sampled:
        expected = legacy.expected[tenant]
        status = await plan_status(tenant, "funnel", 0)
        assert status["status"] == expected.status, tenant
        assert status["plan"]["code"] == expected.plan, tenant
        assert status["entitled"] is expected.entitled, tenant
        assert sorted(p["pricingItemCode"] for p in status["purchases"]) == expected.purchases


@pytest.mark.parametrize("kind", LEGACY_KINDS)
async def test_realistic_import_then_a_rerun_changes_nothing(
    sources: LegacySources, kind: str
) -> None:
    legacy = generate(120)
    url = await sources.make(legacy, kind)

    first = await run(url, batch_size=25)

    assert first.tally.totals() == {
        "created": legacy.rows,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "newerKept": 0,
    }
    assert first.tally.tenants == 120
    assert await Subscription.all().count() == len(legacy.subscriptions)
    assert await Purchase.all().count() == len(legacy.payments)
    # Every tenant has a customer: its legacy row, or the one its subscription names.
    assert await ProviderCustomer.filter(consumer_key="funnel").count() == 120
    named = await ProviderCustomer.get(consumer_tenant_id=tenant_id(0))
    assert (named.tenant_name, named.legal_name) == ("Tenant 0", "Tenant 0 SRL")
    await assert_plan_status_matches(legacy)
    assert await NormalizedEvent.all().count() == 0
    progress = await ImportProgress.get(name="funnel-billing")
    assert progress.status == "finished"
    assert progress.cursor == tenant_id(119)

    before = await snapshot(with_updated_at=True)
    second = await run(url, batch_size=25)

    totals = second.tally.totals()
    assert (totals["created"], totals["updated"], totals["skipped"]) == (0, 0, 0)
    assert totals["unchanged"] == legacy.rows
    assert second.resumed_after is None
    assert await snapshot(with_updated_at=True) == before
    assert await NormalizedEvent.all().count() == 0


async def test_legacy_creation_times_and_payment_statuses_are_kept(sources: LegacySources) -> None:
    legacy = generate(40)
    await run(await sources.make(legacy))

    for row in legacy.payments:
        purchase = await Purchase.get(provider_payment_id=row["stripe_payment_intent_id"])
        expected = {
            "succeeded": "paid",
            "refunded": "refunded",
            "requires_payment_method": "failed",
            "processing": "pending",
        }[row["status"]]
        assert purchase.status == expected
        assert purchase.currency == "eur"
        assert purchase.pricing_item_code == row["plan_code"]
        assert purchase.created_at.isoformat().replace("+00:00", "Z")[:19] == row["created_at"][:19]
        if expected in ("paid", "refunded"):
            assert purchase.paid_at is not None
            assert purchase.paid_at.isoformat()[:19] == row["paid_at"][:19]
        if expected == "refunded":
            assert purchase.amount_refunded == purchase.amount
    for row in legacy.subscriptions:
        record = await Subscription.get(provider_subscription_id=row["stripe_subscription_id"])
        assert record.created_at.isoformat()[:19] == row["created_at"][:19]
        assert record.cancel_at_period_end is row["cancel_at_period_end"]


async def test_a_changed_legacy_row_updates_its_record_on_rerun(sources: LegacySources) -> None:
    legacy = generate(30)
    url = await sources.make(legacy)
    await run(url)
    active = next(s for s in legacy.subscriptions if s["status"] == "active")
    pending = next(p for p in legacy.payments if p["status"] == "processing")
    customer = legacy.customers[3]
    upgraded = next(s for s in legacy.subscriptions if s["status"] == "active" and s is not active)
    counts = (await Subscription.all().count(), await Purchase.all().count())

    await execute(
        url,
        "UPDATE billing_subscriptions SET status = 'canceled', canceled_at = ? WHERE id = ?",
        "2026-11-20T10:00:00Z",
        active["id"],
    )
    await execute(
        url,
        "UPDATE billing_payments SET status = 'succeeded', paid_at = ? WHERE id = ?",
        "2026-11-21T10:00:00Z",
        pending["id"],
    )
    await execute(
        url,
        "UPDATE billing_customers SET billing_email = ? WHERE tenant_id = ?",
        "new-billing@example.test",
        customer["tenant_id"],
    )
    await execute(
        url,
        "UPDATE billing_subscriptions SET plan_code = ?, current_period_start = ?, "
        "current_period_end = ? WHERE id = ?",
        "pro_year" if upgraded["plan_code"] == "starter_month" else "starter_month",
        "2026-11-22T10:00:00Z",
        "2027-11-22T10:00:00Z",
        upgraded["id"],
    )
    again = await run(url)

    assert again.tally.totals()["updated"] == 4
    assert again.tally.totals()["created"] == 0
    record = await Subscription.get(provider_subscription_id=active["stripe_subscription_id"])
    assert record.status == "canceled"
    assert record.canceled_at is not None and record.canceled_at.isoformat().startswith(
        "2026-11-20"
    )
    purchase = await Purchase.get(provider_payment_id=pending["stripe_payment_intent_id"])
    assert purchase.status == "paid"
    assert purchase.paid_at is not None and purchase.paid_at.isoformat().startswith("2026-11-21")
    stored = await ProviderCustomer.get(consumer_tenant_id=customer["tenant_id"])
    assert stored.billing_email == "new-billing@example.test"
    assert (await Subscription.all().count(), await Purchase.all().count()) == counts
    assert (await plan_status(active["tenant_id"], "funnel", 0))["status"] == "canceled"
    plan = (await plan_status(upgraded["tenant_id"], "funnel", 0))["plan"]
    assert plan["code"] != upgraded["plan_code"]
    assert (await run(url)).tally.totals()["updated"] == 0


async def test_emit_events_sends_them_once_and_default_sends_none(sources: LegacySources) -> None:
    legacy = generate(20)
    url = await sources.make(legacy)

    await run(url, dry_run=True, emit_events=True)
    assert await NormalizedEvent.all().count() == 0
    report = await run(url, emit_events=True)

    events = await NormalizedEvent.all()
    by_type: dict[str, int] = {}
    for event in events:
        by_type[event.type] = by_type.get(event.type, 0) + 1
        assert event.consumer_key == "funnel"
    canceled = sum(1 for s in legacy.subscriptions if s["status"] == "canceled")
    assert by_type.get("subscription.created", 0) == len(legacy.subscriptions) - canceled
    assert by_type.get("subscription.canceled", 0) == canceled
    paid = sum(1 for p in legacy.payments if p["status"] in ("succeeded", "refunded"))
    assert by_type.get("purchase.paid", 0) == paid
    assert by_type.get("purchase.refunded", 0) == sum(
        1 for p in legacy.payments if p["status"] == "refunded"
    )
    assert await EventDelivery.filter(consumer_key="funnel").count() == len(events)
    assert report.emit_events

    await run(url, emit_events=True)
    assert await NormalizedEvent.all().count() == len(events)


async def test_dry_run_writes_nothing(sources: LegacySources) -> None:
    legacy = generate(25)
    url = await sources.make(legacy)

    dry = await run(url, dry_run=True, batch_size=10)

    assert dry.dry_run
    assert dry.tally.totals()["created"] == legacy.rows
    assert dry.summary_lines()[0].startswith("DRY RUN")
    for model in (Subscription, Purchase, ProviderCustomer, ImportProgress, NormalizedEvent):
        assert await model.all().count() == 0, model.__name__

    await run(url)
    first = legacy.subscriptions[-1]
    await execute(
        url,
        "UPDATE billing_subscriptions SET status = 'unpaid', current_period_start = ?, "
        "current_period_end = ? WHERE id = ?",
        "2026-11-25T00:00:00Z",
        "2026-12-25T00:00:00Z",
        first["id"],
    )
    before = await snapshot(with_updated_at=True)
    progress = await ImportProgress.get(name="funnel-billing").values()
    dry_again = await run(url, dry_run=True)
    assert dry_again.tally.totals()["updated"] == 1
    assert await snapshot(with_updated_at=True) == before
    assert await ImportProgress.get(name="funnel-billing").values() == progress


async def test_newer_webhook_data_is_not_overwritten(sources: LegacySources, make_app: Any) -> None:
    from tests.support import stripe_events as se
    from tests.support.api import Api
    from tests.support.webhooks import SECRET, post_event

    api = Api(await make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET), "")
    legacy = generate(10)
    url = await sources.make(legacy)
    newer, older = [s for s in legacy.subscriptions if s["status"] != "canceled"][:2]
    # A webhook from after the legacy row (its state must stay) and one from before it.
    for row, status, created in (
        (newer, "past_due", 1_795_000_000),
        (older, "incomplete", 1_700_000_000),
    ):
        body = se.event(
            "customer.subscription.updated",
            se.subscription(
                row["stripe_subscription_id"],
                status=status,
                customer=row["stripe_customer_id"],
                period_start=created - 100,
                period_end=created + 86400 * 30,
                metadata=se.tenant_metadata(row["tenant_id"], row["plan_code"]),
                trial_end=created + 3600,
            ),
            created=created,
        )
        assert (await post_event(api, body)).status == 200

    report = await run(url)

    subs = report.tally.tables["billing_subscriptions"]
    assert subs["newerKept"] == 1
    assert subs["updated"] == 1
    kept = await Subscription.get(provider_subscription_id=newer["stripe_subscription_id"])
    assert kept.status == "past_due"
    moved = await Subscription.get(provider_subscription_id=older["stripe_subscription_id"])
    assert moved.status == older["status"]
    assert moved.trial_end is not None, "the legacy table has no trial end: the record's stays"
    assert await Subscription.all().count() == len(legacy.subscriptions)


@pytest.mark.parametrize("kind", LEGACY_KINDS)
async def test_bad_rows_are_reported_with_their_ids_and_skipped(
    sources: LegacySources, kind: str
) -> None:
    legacy = generate(12)
    good = legacy.subscriptions[0]
    bad_subscriptions: dict[int, tuple[dict[str, Any], str]] = {
        901: ({"plan_code": "gold"}, "unknown_plan_code"),
        902: ({"stripe_subscription_id": None}, "missing_stripe_id"),
        903: ({"current_period_end": "next tuesday"}, "bad_date"),
        904: ({"status": "expired"}, "unknown_status"),
        905: ({"created_at": "2099-01-01T00:00:00Z"}, "bad_date"),
        906: (
            {
                "stripe_subscription_id": good["stripe_subscription_id"],
                "tenant_id": "tenant_000005",
            },
            "conflict",
        ),
        907: ({"tenant_id": None}, "missing_tenant_id"),
        908: ({"stripe_subscription_id": "sub_" + "x" * 300}, "bad_value"),
    }
    for number, (changes, _) in bad_subscriptions.items():
        legacy.subscriptions.append(
            {**good, "id": number, "stripe_subscription_id": f"sub_bad_{number}", **changes}
        )
    pay = {
        "id": 990,
        "tenant_id": tenant_id(1),
        "stripe_payment_intent_id": "pi_bad",
        "stripe_checkout_session_id": None,
        "plan_code": "lifetime_addon",
        "amount": 4900,
        "currency": "eur",
        "status": "succeeded",
        "paid_at": "2025-03-01T00:00:00Z",
        "created_at": "2025-03-01T00:00:00Z",
    }
    bad_payments: dict[int, tuple[dict[str, Any], str]] = {
        991: ({"status": "failed_hard"}, "unknown_status"),
        992: ({"stripe_payment_intent_id": ""}, "missing_stripe_id"),
        993: ({"plan_code": "starter_month"}, "wrong_plan_kind"),
        994: ({"paid_at": None}, "bad_date"),
        995: ({"currency": "euro"}, "bad_value"),
    }
    for number, (changes, _) in bad_payments.items():
        legacy.payments.append(
            {**pay, "id": number, "stripe_payment_intent_id": f"pi_{number}", **changes}
        )
    legacy.customers.append(
        {**legacy.customers[0], "tenant_id": "tenant_999999", "stripe_customer_id": None}
    )
    url = await sources.make(legacy, kind)

    report = await run(url, batch_size=4)

    found = {(p.table, p.legacy_id, p.reason) for p in report.tally.skipped}
    expected = {("billing_subscriptions", str(n), r) for n, (_, r) in bad_subscriptions.items()}
    expected |= {("billing_payments", str(n), r) for n, (_, r) in bad_payments.items()}
    expected.add(("billing_customers", "tenant_999999", "missing_stripe_id"))
    assert found == expected
    assert report.failed
    assert report.tally.totals()["skipped"] == len(expected)
    assert report.tally.totals()["created"] == legacy.rows - len(expected)
    conflict = next(p for p in report.tally.skipped if p.reason == "conflict")
    assert conflict.tenant_id == "tenant_000005"
    assert tenant_id(0) in conflict.message
    assert not await Subscription.filter(provider_subscription_id__startswith="sub_bad_").exists()
    assert not await Purchase.filter(
        provider_payment_id__in=["pi_991", "pi_993", "pi_994", "pi_995"]
    ).exists()
    owner = await Subscription.get(provider_subscription_id=good["stripe_subscription_id"])
    assert owner.consumer_tenant_id == good["tenant_id"]
    json_report = report.to_json()
    assert json_report["skippedByReason"]["bad_date"] == 3
    assert {"table", "id", "tenantId", "reason", "message"} <= set(json_report["skipped"][0])


async def test_an_unfinished_run_resumes_after_its_cursor_and_a_finished_one_restarts(
    sources: LegacySources,
) -> None:
    legacy = generate(30)
    url = await sources.make(legacy)
    done = await run(url, batch_size=7)
    assert done.tally.tenants == 30

    progress = await ImportProgress.get(name="funnel-billing")
    progress.status = "running"
    progress.cursor = tenant_id(19)
    progress.stats = {"tenants": 20, "tables": {}, "skipped": []}
    await progress.save()
    resumed = await run(url, batch_size=7)
    assert resumed.resumed_after == tenant_id(19)
    assert resumed.tally.tenants == 30
    assert resumed.tally.totals()["unchanged"] == sum(
        1 for rows in legacy.tables().values() for row in rows if row["tenant_id"] > tenant_id(19)
    )

    restarted = await run(url, batch_size=7)
    assert restarted.resumed_after is None
    assert restarted.tally.tenants == 30
    assert restarted.tally.totals()["unchanged"] == legacy.rows


async def test_customer_conflicts_are_reported_and_never_reassigned(
    sources: LegacySources,
) -> None:
    legacy = generate(5)
    # Tenant 1 already has another Stripe customer here (a checkout through us made it).
    await ProviderCustomer.create(
        provider_key="stripe",
        consumer_key="funnel",
        consumer_tenant_id=tenant_id(1),
        provider_customer_id="cus_checkout",
    )
    row = {"tenant_name": "T", "legal_name": "T SRL", "billing_email": "t@example.test"}
    legacy.customers = [
        {**row, "tenant_id": tenant_id(1), "stripe_customer_id": "cus_000001"},
        {**row, "tenant_id": tenant_id(2), "stripe_customer_id": "cus_000003"},
        {**row, "tenant_id": tenant_id(3), "stripe_customer_id": "cus_000003"},
    ]

    report = await run(await sources.make(legacy))

    conflicts = {p.legacy_id: p.message for p in report.tally.skipped}
    assert set(conflicts) == {tenant_id(1), tenant_id(3)}
    assert "already has Stripe customer cus_checkout" in conflicts[tenant_id(1)]
    assert f"belongs to tenant '{tenant_id(2)}'" in conflicts[tenant_id(3)]
    kept = await ProviderCustomer.get(consumer_tenant_id=tenant_id(1))
    assert kept.provider_customer_id == "cus_checkout"
    assert not await ProviderCustomer.filter(consumer_tenant_id=tenant_id(3)).exists()
    # Its subscriptions still reach the tenant, through our metadata.
    assert await Subscription.filter(consumer_tenant_id=tenant_id(3)).exists()
