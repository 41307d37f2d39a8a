"""The appliers, driven through `apply_facts` with facts alone (no provider, no HTTP).

What every applier promises (`core.ingest.appliers`): it writes only real changes, never moves
a record backwards, emits one normalized event per real change, and refuses a fact about a
tenant nobody knows without writing anything. The webhook tests show the same through a
provider's events; here each rule stands alone, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.facts import (
    CONSUMER_KEY,
    CONSUMER_TENANT_ID,
    PRICING_ITEM_CODE,
    CheckoutSessionFact,
    Fact,
    PaymentFact,
    RefundFact,
    SubscriptionFact,
)
from core.ingest.appliers.context import TenantUnknown
from core.ingest.apply import apply_facts
from core.models import CheckoutSession, NormalizedEvent, Purchase, Subscription
from core.store.unit_of_work import unit_of_work

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TENANT = {CONSUMER_KEY: "funnel", CONSUMER_TENANT_ID: "tenant_1", PRICING_ITEM_CODE: "starter"}


async def apply(*facts: Fact, at: datetime = T0) -> list[str]:
    """Apply the facts in one unit of work; the normalized event types written."""
    async with unit_of_work() as conn:
        ctx = await apply_facts("stripe", list(facts), occurred_at=at, using_db=conn)
    return [event.type for event in ctx.emitted]


def subscription_fact(status: str = "active", **changes: Any) -> SubscriptionFact:
    values: dict[str, Any] = {
        "provider_subscription_id": "sub_1",
        "provider_customer_id": "cus_1",
        "status": status,
        "current_period_start": T0,
        "current_period_end": T0 + timedelta(days=30),
        "cancel_at_period_end": False,
        "canceled_at": None,
        "trial_end": None,
        "ended_at": None,
        "metadata": TENANT,
    }
    values.update(changes)
    return SubscriptionFact(**values)


def payment_fact(status: str, **changes: Any) -> PaymentFact:
    values: dict[str, Any] = {
        "provider_payment_id": "pi_1",
        "status": status,
        "amount": 4900,
        "currency": "eur",
        "metadata": {**TENANT, PRICING_ITEM_CODE: "lifetime"},
    }
    values.update(changes)
    return PaymentFact(**values)


async def test_a_subscription_moves_only_forward_in_the_providers_time(database: str) -> None:
    assert await apply(subscription_fact("trialing")) == ["subscription.created"]
    later = T0 + timedelta(minutes=5)
    assert await apply(subscription_fact("active"), at=later) == ["subscription.updated"]
    # An older fact, arriving late, changes nothing and says nothing.
    assert await apply(subscription_fact("past_due"), at=T0 + timedelta(minutes=1)) == []
    assert (await Subscription.get(provider_subscription_id="sub_1")).status == "active"
    canceled = subscription_fact("canceled", ended_at=later)
    assert await apply(canceled, at=later + timedelta(minutes=1)) == ["subscription.canceled"]


async def test_a_fact_that_changes_nothing_emits_nothing(database: str) -> None:
    assert await apply(subscription_fact()) == ["subscription.created"]
    assert await apply(subscription_fact(), at=T0 + timedelta(hours=1)) == []
    assert await NormalizedEvent.all().count() == 1


async def test_a_purchase_moves_by_its_status_order(database: str) -> None:
    assert await apply(payment_fact("pending")) == []
    assert await apply(payment_fact("paid"), at=T0 + timedelta(minutes=1)) == ["purchase.paid"]
    # A failure reported after the payment succeeded does not take it back.
    assert await apply(payment_fact("failed"), at=T0 + timedelta(minutes=2)) == []
    assert (await Purchase.get(provider_payment_id="pi_1")).status == "paid"


async def test_refunded_amounts_only_grow(database: str) -> None:
    await apply(payment_fact("paid"))
    refund = RefundFact(provider_payment_id="pi_1", amount=4900, amount_refunded=1000)
    assert await apply(refund, at=T0 + timedelta(minutes=1)) == ["purchase.refunded"]
    smaller = RefundFact(provider_payment_id="pi_1", amount=4900, amount_refunded=500)
    assert await apply(smaller, at=T0 + timedelta(minutes=2)) == []
    record = await Purchase.get(provider_payment_id="pi_1")
    assert (record.amount_refunded, record.status) == (1000, "partially_refunded")
    whole = RefundFact(provider_payment_id="pi_1", amount=4900, amount_refunded=4900)
    assert await apply(whole, at=T0 + timedelta(minutes=3)) == ["purchase.refunded"]
    assert (await Purchase.get(provider_payment_id="pi_1")).status == "refunded"


async def test_a_completed_one_time_checkout_is_a_purchase(database: str) -> None:
    checkout = CheckoutSessionFact(
        provider_checkout_session_id="cs_1",
        status="complete",
        payment_status="paid",
        mode="payment",
        provider_customer_id="cus_1",
        provider_payment_id="pi_1",
        amount_total=4900,
        currency="eur",
        metadata={**TENANT, PRICING_ITEM_CODE: "lifetime"},
    )
    assert await apply(checkout) == ["checkout.completed", "purchase.paid"]
    purchase = await Purchase.get(provider_payment_id="pi_1")
    assert (purchase.status, purchase.amount, purchase.pricing_item_code) == (
        "paid",
        4900,
        "lifetime",
    )
    linked = CheckoutSession.filter(provider_checkout_session_id="cs_1", purchase=purchase)
    assert await linked.exists()
    # The payment's own event, after the checkout, changes nothing more.
    assert await apply(payment_fact("paid"), at=T0 + timedelta(minutes=1)) == []


@pytest.mark.parametrize(
    "fact",
    [
        subscription_fact(metadata={}),
        payment_fact("paid", metadata={}),
        RefundFact(provider_payment_id="pi_unknown", amount=100, amount_refunded=100),
    ],
    ids=["subscription", "payment", "refund"],
)
async def test_an_unknown_tenant_raises_and_writes_nothing(database: str, fact: Fact) -> None:
    with pytest.raises(TenantUnknown):
        await apply(fact)
    assert await Subscription.all().count() == 0
    assert await Purchase.all().count() == 0
    assert await NormalizedEvent.all().count() == 0
