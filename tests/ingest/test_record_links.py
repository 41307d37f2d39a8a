"""The purchase, the checkout session and the subscription point at each other, both ways,
whichever of their provider events arrives first (every arrival order is tried)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from core.models import CheckoutSession, NormalizedEvent, PricingItem, Purchase, Subscription
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.webhooks import SECRET, post_event

T0 = 1_790_000_000
MONTH = 30 * 86400
_runs = itertools.count()


async def links_app(make_app: Any) -> Api:
    api = Api(await make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET), TOKEN)
    await PricingItem.create(
        code="starter_month",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
    )
    await PricingItem.create(
        code="lifetime_addon", name="Lifetime", kind="one_time", unit_amount=4900, currency="eur"
    )
    return api


async def open_checkout(session_id: str, tenant: str, item: str, mode: str) -> None:
    await CheckoutSession.create(
        provider_key="stripe",
        provider_checkout_session_id=session_id,
        url="https://checkout.test/x",
        status="open",
        mode=mode,
        payment_status="unpaid",
        pricing_item_code=item,
        consumer_key="funnel",
        consumer_tenant_id=tenant,
        provider_customer_id=f"cus_{tenant}",
        success_url="https://s",
        cancel_url="https://c",
        amount_total=4900,
        currency="eur",
    )


def payment_intent(intent_id: str, status: str, metadata: dict[str, str], customer: str) -> Any:
    """A payment intent our checkout made (`payment_intent_data.metadata` carries the tenant)."""
    obj = se.fixture("payment_intent")
    obj.update(
        id=intent_id,
        status=status,
        amount=4900,
        currency="eur",
        customer=customer,
        metadata=metadata,
    )
    return obj


def one_time_events(run: int, *, asynchronous: bool) -> tuple[str, str, str, list[Any]]:
    tenant, session_id, intent = f"tenant_ot{run}", f"cs_ot{run}", f"pi_ot{run}"
    meta = se.tenant_metadata(tenant, "lifetime_addon")
    customer = f"cus_{tenant}"

    def session(payment_status: str) -> Any:
        return se.checkout_session(
            session_id,
            mode="payment",
            payment_status=payment_status,
            customer=customer,
            payment_intent=intent,
            amount_total=4900,
            metadata=meta,
        )

    if not asynchronous:
        events = [
            se.event("checkout.session.completed", session("paid"), created=T0 + 1),
            se.event(
                "payment_intent.succeeded",
                payment_intent(intent, "succeeded", meta, customer),
                created=T0 + 1,
            ),
        ]
        return tenant, session_id, intent, events
    events = [
        se.event(
            "payment_intent.processing",
            payment_intent(intent, "processing", meta, customer),
            created=T0,
        ),
        se.event("checkout.session.completed", session("unpaid"), created=T0 + 1),
        se.event(
            "payment_intent.succeeded",
            payment_intent(intent, "succeeded", meta, customer),
            created=T0 + 60,
        ),
        se.event("checkout.session.async_payment_succeeded", session("paid"), created=T0 + 61),
    ]
    return tenant, session_id, intent, events


def assert_each_emitted_once(emitted: list[NormalizedEvent]) -> None:
    per_provider_event = Counter((e.provider_event_id, e.type) for e in emitted)
    assert max(per_provider_event.values(), default=1) == 1, per_provider_event


ONE_TIME_ORDERS = [
    *(("sync", order) for order in itertools.permutations(range(2))),
    *(("async", order) for order in itertools.permutations(range(4))),
]


@pytest.mark.parametrize(("flow", "order"), ONE_TIME_ORDERS)
async def test_a_one_time_purchase_and_its_checkout_link_both_ways(
    make_app: Any, flow: str, order: tuple[int, ...]
) -> None:
    api = await links_app(make_app)
    run = next(_runs)
    tenant, session_id, intent, events = one_time_events(run, asynchronous=flow == "async")
    await open_checkout(session_id, tenant, "lifetime_addon", "payment")

    for index in order:
        assert (await post_event(api, events[index])).status == 200

    purchase = await Purchase.get(provider_payment_id=intent)
    session = await CheckoutSession.get(provider_checkout_session_id=session_id)
    assert purchase.status == "paid"
    assert purchase.provider_checkout_session_id == session_id
    assert session.purchase_id == purchase.id  # type: ignore[attr-defined]
    assert session.provider_payment_id == intent
    assert (session.status, session.payment_status) == ("complete", "paid")
    emitted = await NormalizedEvent.filter(consumer_tenant_id=tenant)
    assert_each_emitted_once(emitted)
    assert sorted(e.type for e in emitted) == ["checkout.completed", "purchase.paid"]
    listed = (
        await api.get("/internal/payments/purchases", query={"consumerTenantId": tenant})
    ).body
    assert listed["data"][0]["providerCheckoutSessionId"] == session_id
    shown = (await api.get(f"/internal/payments/checkout-sessions/{session_id}")).body
    assert shown["purchaseId"] == str(purchase.id)


def subscription_events(run: int) -> tuple[str, str, str, list[Any]]:
    tenant, session_id, sub_id = f"tenant_sc{run}", f"cs_sc{run}", f"sub_sc{run}"
    meta = se.tenant_metadata(tenant, "starter_month")
    customer = f"cus_{tenant}"

    def subscription(cancel_at_period_end: bool) -> Any:
        return se.subscription(
            sub_id,
            status="active",
            customer=customer,
            period_start=T0,
            period_end=T0 + MONTH,
            metadata=meta,
            cancel_at_period_end=cancel_at_period_end,
        )

    invoice = se.invoice(
        f"in_sc{run}",
        subscription_id=sub_id,
        customer=customer,
        period_start=T0,
        period_end=T0 + MONTH,
        metadata=meta,
    )
    completed = se.checkout_session(
        session_id, mode="subscription", customer=customer, subscription=sub_id, metadata=meta
    )
    events = [
        se.event("customer.subscription.created", subscription(False), created=T0),
        se.event("invoice.paid", invoice, created=T0),
        se.event("checkout.session.completed", completed, created=T0 + 1),
        se.event("customer.subscription.updated", subscription(True), created=T0 + 2),
    ]
    return tenant, session_id, sub_id, events


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_a_subscription_and_its_checkout_link_both_ways(
    make_app: Any, order: tuple[int, ...]
) -> None:
    api = await links_app(make_app)
    run = next(_runs)
    tenant, session_id, sub_id, events = subscription_events(run)
    await open_checkout(session_id, tenant, "starter_month", "subscription")

    for index in order:
        assert (await post_event(api, events[index])).status == 200

    record = await Subscription.get(provider_subscription_id=sub_id)
    session = await CheckoutSession.get(provider_checkout_session_id=session_id)
    assert session.subscription_id == record.id  # type: ignore[attr-defined]
    assert session.provider_subscription_id == sub_id
    assert (record.status, record.cancel_at_period_end) == ("active", True)
    assert record.provider_customer_id == f"cus_{tenant}"
    emitted = await NormalizedEvent.filter(consumer_tenant_id=tenant).order_by("created_at", "id")
    assert_each_emitted_once(emitted)
    types = Counter(e.type for e in emitted)
    assert (types["checkout.completed"], types["subscription.created"]) == (1, 1)
    last = [e for e in emitted if "subscription" in e.data][-1]
    assert last.data["subscription"]["cancelAtPeriodEnd"] is True
    shown = (await api.get(f"/internal/payments/checkout-sessions/{session_id}")).body
    assert shown["subscriptionId"] == str(record.id)
