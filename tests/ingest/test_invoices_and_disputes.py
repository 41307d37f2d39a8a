"""Invoice and dispute facts, through `apply_facts` alone (no provider, no HTTP).

Invoices are kept from the provider's `invoice.*` events and move forward only; paying one
is `invoice.paid` (and renews its subscription), a failed payment `invoice.payment_failed`
unless the invoice has moved past it. Disputes reach their tenant through the disputed
payment; a lost one takes a one-time purchase out of plan status.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from core.billing.plan_status import plan_status_json
from core.facts import PRICING_ITEM_CODE, DisputeFact, InvoiceFact
from core.ingest.appliers.context import TenantUnknown
from core.models import Dispute, Invoice, Purchase, Subscription
from tests.ingest.test_appliers import T0, TENANT, apply, payment_fact, subscription_fact

PERIOD_END = T0 + timedelta(days=30)


def invoice_fact(paid: bool | None, **changes: Any) -> InvoiceFact:
    values: dict[str, Any] = {
        "provider_subscription_id": "sub_1",
        "provider_customer_id": "cus_1",
        "paid": paid,
        "period_start": PERIOD_END,
        "period_end": PERIOD_END + timedelta(days=30),
        "metadata": TENANT,
        "provider_invoice_id": "in_1",
        "status": "paid" if paid else "open",
        "number": "INV-0001",
        "amount_due": 1900,
        "amount_paid": 1900 if paid else 0,
        "currency": "EUR",
        "hosted_invoice_url": "https://invoice.test/in_1",
        "invoice_pdf_url": "https://invoice.test/in_1.pdf",
        "provider_payment_id": "pi_invoice_1",
    }
    values.update(changes)
    return InvoiceFact(**values)


def dispute_fact(status: str, **changes: Any) -> DisputeFact:
    values: dict[str, Any] = {
        "provider_dispute_id": "dp_1",
        "provider_payment_id": "pi_1",
        "amount": 4900,
        "currency": "eur",
        "reason": "fraudulent",
        "status": status,
    }
    values.update(changes)
    return DisputeFact(**values)


async def test_an_invoice_moves_forward_and_is_paid_once(database: str) -> None:
    await apply(subscription_fact())
    later = T0 + timedelta(days=30)
    assert await apply(invoice_fact(None, status="draft"), at=later) == []
    assert await apply(invoice_fact(paid=True), at=later + timedelta(seconds=1)) == [
        "invoice.paid",
        "subscription.updated",
    ]
    kept = await Invoice.get(provider_invoice_id="in_1")
    subscription = await Subscription.get(provider_subscription_id="sub_1")
    assert (kept.status, kept.amount_paid, kept.currency, kept.number) == (
        "paid",
        1900,
        "eur",
        "INV-0001",
    )
    assert kept.subscription_id == subscription.id
    assert subscription.current_period_end == PERIOD_END + timedelta(days=30)
    # The same fact again, and an older `open` one arriving late, change nothing.
    assert await apply(invoice_fact(paid=True), at=later + timedelta(seconds=2)) == []
    assert await apply(invoice_fact(None, status="open"), at=later) == []
    assert (await Invoice.get(provider_invoice_id="in_1")).status == "paid"


async def test_a_failed_payment_is_told_unless_the_invoice_moved_past_it(database: str) -> None:
    await apply(subscription_fact())
    at = T0 + timedelta(days=30)
    assert await apply(invoice_fact(paid=False), at=at) == [
        "invoice.payment_failed",
        "subscription.payment_failed",
    ]
    assert await apply(invoice_fact(paid=False), at=at) == []  # the same failure, replayed
    assert await apply(invoice_fact(paid=False), at=at + timedelta(hours=1)) == [
        "invoice.payment_failed",
        "subscription.payment_failed",
    ]
    assert await apply(invoice_fact(paid=True), at=at + timedelta(hours=2)) == [
        "invoice.paid",
        "subscription.updated",
    ]
    # A failure reported after the invoice was paid is old news.
    assert await apply(invoice_fact(paid=False), at=at + timedelta(hours=3)) == []
    assert await apply(invoice_fact(paid=False), at=at - timedelta(hours=3)) == []


async def test_an_invoice_of_nobody_we_know_is_not_kept(database: str) -> None:
    stranger = invoice_fact(
        paid=True, provider_subscription_id=None, provider_customer_id="cus_other", metadata={}
    )
    assert await apply(stranger) == []
    assert await Invoice.all().count() == 0


async def test_an_invoice_of_an_unknown_subscription_waits(database: str) -> None:
    with pytest.raises(TenantUnknown) as raised:
        await apply(invoice_fact(paid=True))
    assert raised.value.waits == {"subscription": "sub_1"}
    assert await Invoice.all().count() == 0


async def test_a_dispute_is_opened_and_closed_once(database: str) -> None:
    await apply(payment_fact("paid"))
    assert await apply(dispute_fact("warning_needs_response")) == ["dispute.opened"]
    assert await apply(dispute_fact("needs_response"), at=T0 + timedelta(minutes=1)) == []
    assert await apply(dispute_fact("under_review"), at=T0 + timedelta(minutes=2)) == []
    assert await apply(dispute_fact("won"), at=T0 + timedelta(minutes=3)) == ["dispute.closed"]
    assert await apply(dispute_fact("under_review"), at=T0 + timedelta(minutes=4)) == []
    kept = await Dispute.get(provider_dispute_id="dp_1")
    purchase = await Purchase.get(provider_payment_id="pi_1")
    assert (kept.status, kept.purchase_id, kept.consumer_tenant_id) == (
        "won",
        purchase.id,
        "tenant_1",
    )
    assert purchase.dispute_status == "won"


async def test_a_lost_dispute_takes_the_purchase_out_of_plan_status(database: str) -> None:
    await apply(payment_fact("paid"))
    before = orjson.loads(await plan_status_json("tenant_1", "funnel", 0))
    assert [p["pricingItemCode"] for p in before["purchases"]] == ["lifetime"]
    assert await apply(dispute_fact("lost")) == ["dispute.opened", "dispute.closed"]
    after = orjson.loads(await plan_status_json("tenant_1", "funnel", 0))
    assert after["purchases"] == []


async def test_a_subscription_payment_dispute_belongs_to_its_subscription(database: str) -> None:
    await apply(subscription_fact())
    await apply(invoice_fact(paid=True), at=T0 + timedelta(days=30))
    disputed = dispute_fact("needs_response", provider_payment_id="pi_invoice_1")
    assert await apply(disputed, at=T0 + timedelta(days=31)) == ["dispute.opened"]
    kept = await Dispute.get(provider_dispute_id="dp_1")
    subscription = await Subscription.get(provider_subscription_id="sub_1")
    assert (kept.subscription_id, kept.purchase_id) == (subscription.id, None)


async def test_a_dispute_of_an_unknown_payment_waits(database: str) -> None:
    with pytest.raises(TenantUnknown) as raised:
        await apply(dispute_fact("needs_response", provider_payment_id="pi_stranger"))
    assert raised.value.waits == {"payment": "pi_stranger"}
    assert await Dispute.all().count() == 0


async def test_our_plan_change_moves_the_record_by_its_metadata(database: str) -> None:
    await apply(subscription_fact())
    moved = subscription_fact(metadata={**TENANT, PRICING_ITEM_CODE: "pro"})
    assert await apply(moved, at=T0 + timedelta(minutes=1)) == ["subscription.updated"]
    assert (await Subscription.get(provider_subscription_id="sub_1")).pricing_item_code == "pro"


async def test_a_late_subscription_event_older_than_a_renewal_keeps_the_period(
    database: str,
) -> None:
    await apply(subscription_fact())
    renewed_at = T0 + timedelta(days=30)
    assert await apply(invoice_fact(paid=True), at=renewed_at) == [
        "invoice.paid",
        "subscription.updated",
    ]
    assert await apply(subscription_fact(), at=T0 + timedelta(seconds=5)) == []
    record = await Subscription.get(provider_subscription_id="sub_1")
    assert record.current_period_end == PERIOD_END + timedelta(days=30)
    assert record.provider_updated_at == renewed_at
