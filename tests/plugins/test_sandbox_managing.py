"""Managing what was bought at the sandbox, through its provider methods: cancel, resume,
change (and its preview), portal sessions, refunds, invoices and the dispute control.

Each method's answer is the sandbox object's fact, on the sandbox's clock; the events it
sends reach the service's own webhook (served over HTTP, as in `test_sandbox_flow`), so the
subscription and purchase records the host keeps follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sandbox_provider import managing, objects
from sandbox_provider.provider import SandboxProvider

from core.errors import Conflict, NotFound, Unprocessable
from core.facts import DisputeFact, InvoiceFact, RefundFact, SubscriptionFact
from core.models import (
    PricingItem,
    PricingItemProviderPrice,
    ProviderEvent,
    Purchase,
    SandboxObject,
    Subscription,
)
from core.providers import (
    MANAGING_CAPABILITIES,
    CheckoutItem,
    PortalRequest,
    RefundRequest,
    SubscriptionChange,
)
from core.timeutil import from_unix, utcnow
from tests.plugins import test_sandbox_flow as flow
from tests.plugins.test_sandbox_flow import (
    CONTROLS,
    ITEMS,
    Served,
    add_items,
    click,
    open_checkout,
    paid_subscription,
)
from tests.support.processes import free_port
from tests.support.webhooks import event_types

serve_app = flow.serve_app
served = flow.served
"""The fixtures of `test_sandbox_flow` (an app served over HTTP, with its catalog)."""

PRO = {
    "code": "pro_month",
    "name": "Pro",
    "kind": "recurring",
    "unitAmount": 4900,
    "currency": "eur",
    "interval": "month",
    "features": {"funnels": 50},
}


def sandbox(served: Served) -> SandboxProvider:
    provider = served.app.extensions["payments"].registry.providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    return provider


async def add_pro(served: Served) -> None:
    reply = await served.api.post(ITEMS, json=PRO)
    assert reply.status == 201, reply.body


async def priced(provider: SandboxProvider, code: str) -> CheckoutItem:
    """The catalog item with its sandbox price, kept as the host keeps it."""
    item = await PricingItem.get(code=code)
    bare = CheckoutItem(
        code=item.code,
        name=item.name,
        description=item.description,
        kind="recurring" if item.kind == "recurring" else "one_time",
        unit_amount=item.unit_amount,
        currency=item.currency,
        interval=item.interval,
        interval_count=item.interval_count,
        trial_days=item.trial_days,
        provider_price_id=None,
        provider_product_id=None,
    )
    ref = await provider.sync_price(bare)
    await PricingItemProviderPrice.get_or_create(
        item=item,
        provider_key=provider.key,
        defaults={
            "provider_price_id": ref.provider_price_id,
            "provider_product_id": ref.provider_product_id,
        },
    )
    return CheckoutItem(
        **{
            **bare.__dict__,
            "provider_price_id": ref.provider_price_id,
            "provider_product_id": ref.provider_product_id,
        }
    )


def change_of(
    sub_id: str, item: CheckoutItem, proration: Any, key: str = "chg-1"
) -> SubscriptionChange:
    return SubscriptionChange(
        provider_subscription_id=sub_id,
        item=item,
        consumer_key="funnel",
        consumer_tenant_id="tenant_123",
        proration=proration,
        idempotency_key=key,
    )


async def sandbox_data(object_id: str) -> dict[str, Any]:
    return (await SandboxObject.get(id=object_id)).data


async def provider_events(event_type: str) -> list[dict[str, Any]]:
    """The bodies of the sandbox events of `event_type` the service took, oldest first."""
    rows = await ProviderEvent.filter(provider_key="sandbox", type=event_type)
    bodies = [orjson.loads(row.payload) for row in rows]
    return sorted(bodies, key=lambda body: float(body["created"]))


async def test_the_sandbox_can_manage_what_was_bought(served: Served) -> None:
    assert sandbox(served).capabilities >= MANAGING_CAPABILITIES
    providers = (await served.api.get("/internal/payments/providers")).body["data"]
    [listed] = [p for p in providers if p["key"] == "sandbox"]
    assert set(listed["capabilities"]) >= {
        "subscription.cancel",
        "subscription.resume",
        "subscription.change",
        "portal",
        "refund",
        "invoices",
        "disputes",
    }


async def test_cancel_at_period_end_then_resume(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)

    fact = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="c1")

    assert isinstance(fact, SubscriptionFact)
    assert (fact.status, fact.cancel_at_period_end) == ("active", True)
    assert fact.canceled_at is not None
    [updated] = await provider_events("customer.subscription.updated")
    # The answer and the webhook about the same state carry the same time.
    assert fact.observed_at == from_unix(updated["created"])
    assert updated["data"]["object"]["cancel_at_period_end"] is True
    record = await Subscription.get(provider_subscription_id=sub_id)
    assert (record.status, record.cancel_at_period_end) == ("active", True)
    assert (await sandbox_data(sub_id))["cancel_at_period_end"] is True

    again = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="c1")
    assert again == fact  # the same key: nothing more happened
    assert len(await provider_events("customer.subscription.updated")) == 1

    resumed = await provider.resume_subscription(sub_id, idempotency_key="r1")

    assert (resumed.cancel_at_period_end, resumed.canceled_at) == (False, None)
    assert resumed.observed_at is not None and resumed.observed_at > fact.observed_at  # type: ignore[operator]
    await record.refresh_from_db()
    assert (record.status, record.cancel_at_period_end, record.canceled_at) == (
        "active",
        False,
        None,
    )
    assert await event_types() == [
        "subscription.created",
        "invoice.paid",
        "checkout.completed",
        "subscription.updated",
        "subscription.updated",
    ]
    assert await SandboxObject.filter(kind="event_pending").count() == 0


@pytest.mark.parametrize("control", ["renew", "fail-next-payment"])
async def test_the_period_ends_with_a_pending_cancel(served: Served, control: str) -> None:
    """The renewal controls stand for "the period ran out": with a cancel pending, it ends."""
    provider = sandbox(served)
    sub_id = await paid_subscription(served)
    await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="p1")

    reply = await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/{control}")

    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["cancelAtPeriodEnd"]) == ("canceled", False)
    assert reply.body["endedAt"] is not None
    assert (await Subscription.get(provider_subscription_id=sub_id)).status == "canceled"
    assert await SandboxObject.filter(kind="invoice").count() == 1  # no next period
    assert (await event_types())[-1] == "subscription.canceled"


async def test_cancel_now_ends_it_and_an_ended_one_is_refused(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)

    fact = await provider.cancel_subscription(sub_id, at_period_end=False, idempotency_key="n1")

    assert fact.status == "canceled" and fact.ended_at is not None
    [deleted] = await provider_events("customer.subscription.deleted")
    assert fact.observed_at == from_unix(deleted["created"])
    record = await Subscription.get(provider_subscription_id=sub_id)
    assert record.status == "canceled"
    assert (
        await provider.cancel_subscription(sub_id, at_period_end=False, idempotency_key="n1")
    ) == fact
    for act in (
        provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="n2"),
        provider.cancel_subscription(sub_id, at_period_end=False, idempotency_key="n3"),
        provider.resume_subscription(sub_id, idempotency_key="n4"),
    ):
        with pytest.raises(Conflict):
            await act
    with pytest.raises(NotFound):
        await provider.cancel_subscription("sub_sbx_nope", at_period_end=True, idempotency_key="x")


async def test_change_with_always_invoice_invoices_the_difference(served: Served) -> None:
    provider = sandbox(served)
    await add_pro(served)
    sub_id = await paid_subscription(served)
    pro = await priced(provider, "pro_month")

    fact = await provider.change_subscription(change_of(sub_id, pro, "always_invoice"))

    assert fact.provider_price_id == pro.provider_price_id
    assert fact.metadata["pricingItemCode"] == "pro_month"
    sub = await sandbox_data(sub_id)
    assert sub["item"]["code"] == "pro_month" and sub["item"]["unit_amount"] == 4900
    assert sub["price"] == pro.provider_price_id
    invoice = await sandbox_data(sub["latest_invoice"])
    assert invoice["billing_reason"] == "subscription_update"
    assert invoice["status"] == "paid" and invoice["number"] == "SBX-0002"
    [unused, remaining] = invoice["lines"]
    assert unused["description"] == "Unused time on Starter" and -1900 <= unused["amount"] < -1890
    assert (
        remaining["description"] == "Remaining time on Pro" and 4880 < remaining["amount"] <= 4900
    )
    assert invoice["amount_due"] == invoice["amount_paid"] == unused["amount"] + remaining["amount"]
    [updated] = await provider_events("customer.subscription.updated")
    assert fact.observed_at == from_unix(updated["created"])
    paid = await provider_events("invoice.paid")
    assert [p["data"]["object"]["id"] for p in paid][-1] == invoice["id"]
    record = await Subscription.get(provider_subscription_id=sub_id)
    assert record.pricing_item_code == "pro_month"
    status = (
        await served.api.get("/internal/payments/tenants/tenant_123/plan-status?consumerKey=funnel")
    ).body
    assert status["features"] == {"funnels": 50}

    again = await provider.change_subscription(change_of(sub_id, pro, "always_invoice"))
    assert again == fact
    assert await SandboxObject.filter(kind="invoice").count() == 2


@pytest.mark.parametrize("proration", ["create_prorations", "none"])
async def test_change_without_invoicing_now(served: Served, proration: str) -> None:
    provider = sandbox(served)
    await add_pro(served)
    sub_id = await paid_subscription(served)
    first_invoice = (await sandbox_data(sub_id))["latest_invoice"]
    pro = await priced(provider, "pro_month")

    fact = await provider.change_subscription(change_of(sub_id, pro, proration))

    assert fact.provider_price_id == pro.provider_price_id
    assert (await sandbox_data(sub_id))["latest_invoice"] == first_invoice
    assert await SandboxObject.filter(kind="invoice").count() == 1
    assert (
        await Subscription.get(provider_subscription_id=sub_id)
    ).pricing_item_code == "pro_month"


async def test_preview_is_arithmetic_on_the_rest_of_the_period(served: Served) -> None:
    provider = sandbox(served)
    await add_pro(served)
    sub_id = await paid_subscription(served)
    pro = objects.item_data(await priced(provider, "pro_month"))
    sub = await sandbox_data(sub_id)
    start, end = float(sub["current_period_start"]), float(sub["current_period_end"])
    halfway = from_unix(start + (end - start) / 2)
    assert halfway is not None

    half = await managing.preview(
        sub_id, provider_key="sandbox", item=pro, proration="create_prorations", now=halfway
    )

    assert [(line.description, line.amount) for line in half.lines] == [
        ("Unused time on Starter", -950),
        ("Remaining time on Pro", 2450),
    ]
    assert (half.amount_due, half.currency, half.proration_date) == (1500, "eur", halfway)
    starter = {**sub["item"]}
    on_pro = {**sub, "item": pro}
    assert (
        objects.amount_due(objects.proration_lines(on_pro, starter, "always_invoice", halfway)) == 0
    )
    none = await managing.preview(
        sub_id, provider_key="sandbox", item=pro, proration="none", now=halfway
    )
    assert (none.amount_due, none.lines) == (0, ())

    before = await SandboxObject.all().count()
    answered = await provider.preview_change(
        change_of(sub_id, await priced(provider, "pro_month"), "always_invoice")
    )
    assert answered.amount_due > 2900 and len(answered.lines) == 2
    assert abs((answered.proration_date - utcnow()).total_seconds()) < 5
    assert await SandboxObject.all().count() == before  # nothing changed
    assert (await sandbox_data(sub_id))["item"]["code"] == "starter_month"


async def test_a_change_to_another_currency_or_a_one_time_item_is_refused(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)
    yearly = await priced(provider, "trial_year")  # usd
    one_time = await priced(provider, "lifetime_addon")
    for item, code in (
        (yearly, "sandbox_currency_mismatch"),
        (one_time, "pricing_item_unavailable"),
    ):
        with pytest.raises(Unprocessable) as refused:
            await provider.change_subscription(change_of(sub_id, item, "none"))
        assert refused.value.code == code
    assert (await sandbox_data(sub_id))["item"]["code"] == "starter_month"


async def test_a_portal_session_is_made_once_per_key(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)
    customer = (await sandbox_data(sub_id))["customer"]
    request = PortalRequest(
        provider_customer_id=customer,
        return_url="http://funnel.test/settings",
        consumer_key="funnel",
        consumer_tenant_id="tenant_123",
        idempotency_key="portal-1",
    )

    first = await provider.create_portal_session(request)
    again = await provider.create_portal_session(request)
    other = await provider.create_portal_session(
        PortalRequest(**{**request.__dict__, "idempotency_key": "portal-2"})
    )

    assert first == again and other.url != first.url
    assert first.url.startswith(f"{served.base}/sandbox/portal/bps_sbx_")
    assert first.expires_at is not None
    assert timedelta(minutes=59) < first.expires_at - utcnow() <= timedelta(hours=1)
    stored = await sandbox_data(first.url.rsplit("/", 1)[1])
    assert (stored["customer"], stored["return_url"]) == (customer, "http://funnel.test/settings")
    assert await SandboxObject.filter(kind="portal_session").count() == 2
    with pytest.raises(NotFound):
        await provider.create_portal_session(
            PortalRequest(
                **{
                    **request.__dict__,
                    "provider_customer_id": "cus_sbx_nope",
                    "idempotency_key": "p3",
                }
            )
        )


async def paid_payment(served: Served, tenant: str = "tenant_123") -> str:
    session = await open_checkout(served.api, "lifetime_addon", tenant=tenant)
    assert (await click(served.api, session, "pay")).status == 303
    return (await Purchase.get(consumer_tenant_id=tenant)).provider_payment_id


async def test_refunds_add_up_and_the_purchase_follows(served: Served) -> None:
    provider = sandbox(served)
    payment_id = await paid_payment(served)

    fact = await provider.refund_payment(
        RefundRequest(payment_id, 1000, "requested_by_customer", "rf-1")
    )

    assert isinstance(fact, RefundFact)
    assert (fact.provider_payment_id, fact.amount, fact.amount_refunded) == (payment_id, 4900, 1000)
    assert fact.metadata["consumerTenantId"] == "tenant_123"
    [refunded] = await provider_events("charge.refunded")
    charge = refunded["data"]["object"]
    assert (charge["id"], charge["payment_intent"]) == (objects.charge_id(payment_id), payment_id)
    assert (charge["amount"], charge["amount_refunded"], charge["refunded"]) == (4900, 1000, False)
    assert charge["metadata"]["pricingItemCode"] == "lifetime_addon"
    assert fact.observed_at == from_unix(refunded["created"])
    purchase = await Purchase.get(provider_payment_id=payment_id)
    assert (purchase.status, purchase.amount_refunded) == ("partially_refunded", 1000)

    assert await provider.refund_payment(RefundRequest(payment_id, 1000, None, "rf-1")) == fact
    rest = await provider.refund_payment(RefundRequest(payment_id, 3900, "duplicate", "rf-2"))

    assert rest.amount_refunded == 4900
    intent = await sandbox_data(payment_id)
    assert [(r["amount"], r["reason"]) for r in intent["refunds"]] == [
        (1000, "requested_by_customer"),
        (3900, "duplicate"),
    ]
    await purchase.refresh_from_db()
    assert (purchase.status, purchase.amount_refunded) == ("refunded", 4900)
    with pytest.raises(Unprocessable) as refused:
        await provider.refund_payment(RefundRequest(payment_id, 1, None, "rf-3"))
    assert refused.value.code == "refund_exceeds_remaining"
    assert len(await provider_events("charge.refunded")) == 2


async def test_invoices_are_full_and_their_facts_say_everything(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)
    assert (
        await served.api.post(f"{CONTROLS}/subscriptions/{sub_id}/fail-next-payment")
    ).status == 200

    [paid] = await provider_events("invoice.paid")
    [failed] = await provider_events("invoice.payment_failed")
    first = provider.parse_webhook(orjson.dumps(paid)).facts[0]
    second = provider.parse_webhook(orjson.dumps(failed)).facts[0]

    assert isinstance(first, InvoiceFact) and isinstance(second, InvoiceFact)
    assert first.provider_invoice_id == paid["data"]["object"]["id"]
    assert (first.paid, first.status, first.number) == (True, "paid", "SBX-0001")
    assert (first.amount_due, first.amount_paid, first.currency) == (1900, 1900, "eur")
    assert (first.hosted_invoice_url, first.invoice_pdf_url) == (None, None)
    assert first.provider_subscription_id == sub_id
    # A paid invoice names its payment (a dispute of it belongs to the subscription).
    assert first.provider_payment_id is not None
    payment = await sandbox_data(first.provider_payment_id)
    assert (payment["status"], payment["amount"], payment["invoice"]) == (
        "succeeded",
        1900,
        first.provider_invoice_id,
    )
    assert second.provider_payment_id is None  # a failed renewal has no payment
    assert (second.paid, second.status, second.number) == (False, "open", "SBX-0002")
    assert (second.amount_due, second.amount_paid) == (1900, 0)


async def test_the_dispute_control_opens_moves_and_closes_a_dispute(served: Served) -> None:
    provider = sandbox(served)
    payment_id = await paid_payment(served)
    route = f"{CONTROLS}/payment-intents/{payment_id}/dispute"

    opened = await served.api.post(route, json={"status": "needs_response"})

    assert opened.status == 200, opened.body
    assert opened.body["status"] == "needs_response" and opened.body["reason"] == "fraudulent"
    assert (opened.body["amount"], opened.body["paymentIntent"]) == (4900, payment_id)
    moved = await served.api.post(route, json={"status": "under_review", "reason": "general"})
    assert (moved.status, moved.body["id"]) == (200, opened.body["id"])
    closed = await served.api.post(route, json={"status": "lost"})
    assert closed.body["status"] == "lost"
    again = await served.api.post(route, json={"status": "won"})
    assert (again.status, again.body["code"]) == (409, "sandbox_dispute_closed")

    kinds = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
    facts = []
    for kind in kinds:
        [body] = await provider_events(kind)
        [fact] = provider.parse_webhook(orjson.dumps(body)).facts
        assert isinstance(fact, DisputeFact)
        facts.append(fact)
    assert [(f.status, f.reason) for f in facts] == [
        ("needs_response", "fraudulent"),
        ("under_review", "general"),
        ("lost", "general"),
    ]
    assert {f.provider_dispute_id for f in facts} == {opened.body["id"]}
    assert facts[0].provider_payment_id == payment_id
    assert facts[0].provider_charge_id == objects.charge_id(payment_id)
    assert (facts[0].amount, facts[0].currency) == (4900, "eur")
    assert facts[0].metadata["consumerTenantId"] == "tenant_123"
    assert await SandboxObject.filter(kind="event_pending").count() == 0


async def test_a_subscription_payment_can_be_disputed(served: Served) -> None:
    provider = sandbox(served)
    sub_id = await paid_subscription(served)
    payment_id = (await sandbox_data((await sandbox_data(sub_id))["latest_invoice"]))[
        "payment_intent"
    ]

    reply = await served.api.post(
        f"{CONTROLS}/payment-intents/{payment_id}/dispute", json={"status": "needs_response"}
    )

    assert (reply.status, reply.body["amount"]) == (200, 1900)
    [created] = await provider_events("charge.dispute.created")
    [fact] = provider.parse_webhook(orjson.dumps(created)).facts
    assert isinstance(fact, DisputeFact) and fact.provider_payment_id == payment_id
    assert fact.metadata["pricingItemCode"] == "starter_month"


async def test_a_dispute_opened_as_won_is_created_then_closed(served: Served) -> None:
    payment_id = await paid_payment(served)

    reply = await served.api.post(
        f"{CONTROLS}/payment-intents/{payment_id}/dispute", json={"status": "won"}
    )

    assert (reply.status, reply.body["status"]) == (200, "won")
    created = await provider_events("charge.dispute.created")
    closed = await provider_events("charge.dispute.closed")
    assert [c["data"]["object"]["status"] for c in created + closed] == ["needs_response", "won"]


async def test_the_dispute_control_refuses_bad_input(served: Served) -> None:
    payment_id = await paid_payment(served)
    route = f"{CONTROLS}/payment-intents/{payment_id}/dispute"
    bodies: list[Any] = [{}, {"status": "nonsense"}, {"status": "lost", "reason": ""}, []]
    for body in bodies:
        reply = await served.api.post(route, json=body)
        assert (reply.status, reply.body["code"]) == (400, "validation_failed"), body
    unknown = await served.api.post(
        f"{CONTROLS}/payment-intents/pi_sbx_nope/dispute", json={"status": "lost"}
    )
    assert (unknown.status, unknown.body["code"]) == (404, "sandbox_payment_not_found")
    no_token = await served.api.post(route, json={"status": "lost"}, token=None)
    assert no_token.status == 401
    assert await SandboxObject.filter(kind="dispute").count() == 0


async def test_an_unreachable_webhook_is_logged_and_the_answer_still_given(
    serve_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    served_: Served = await serve_app()
    await add_items(served_.api)
    sub_id = await paid_subscription(served_)
    provider = sandbox(served_)
    provider.sender.target = type(provider.sender.target)(
        provider_key="sandbox",
        url=f"http://127.0.0.1:{free_port()}/webhooks/sandbox",
        secret=provider.sender.target.secret,
        timeout=2,
    )

    with caplog.at_level(logging.WARNING, logger="platform_payments.sandbox"):
        fact = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="u1")

    assert fact.cancel_at_period_end is True
    assert await SandboxObject.filter(kind="event_pending").count() == 1
    assert "stay pending" in caplog.text
    assert (await Subscription.get(provider_subscription_id=sub_id)).cancel_at_period_end is False
