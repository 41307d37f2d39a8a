"""POST /webhooks/stripe: signatures, storage, dedupe, and the contract's Stripe mapping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from core.models import (
    CheckoutSession,
    EventDelivery,
    NormalizedEvent,
    PricingItem,
    ProviderCustomer,
    ProviderEvent,
    Purchase,
    Subscription,
)
from tests.conftest import TOKEN
from tests.support import stripe_events as se
from tests.support.api import Api
from tests.support.webhooks import SECRET, event_types, post_event

T0 = 1_790_000_000  # 2026-09-21: a base for provider timestamps
MONTH = 30 * 86400


@pytest.fixture
async def hooks(make_app: Any) -> Api:
    app = await make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=f"whsec_old,{SECRET}")
    api = Api(app, TOKEN)
    await PricingItem.create(
        code="starter_month",
        name="Starter",
        kind="recurring",
        unit_amount=1900,
        currency="eur",
        interval="month",
        features={"funnels": 5, "exports": False},
    )
    await PricingItem.create(
        code="lifetime_addon",
        name="Lifetime",
        kind="one_time",
        unit_amount=4900,
        currency="eur",
        features={"funnels": 20, "exports": True},
    )
    return api


async def open_checkout(
    session_id: str, tenant: str, item: str, mode: str, customer: str = "cus_1"
) -> CheckoutSession:
    return await CheckoutSession.create(
        provider_key="stripe",
        provider_checkout_session_id=session_id,
        url="https://checkout.test/x",
        status="open",
        mode=mode,
        payment_status="unpaid",
        pricing_item_code=item,
        consumer_key="funnel",
        consumer_tenant_id=tenant,
        provider_customer_id=customer,
        success_url="https://s",
        cancel_url="https://c",
        amount_total=1900 if mode == "subscription" else 4900,
        currency="eur",
    )


def sub_event(
    kind: str, sub: str, status: str, created: int, *, period: int = 0, **extra: Any
) -> dict[str, Any]:
    obj = se.subscription(
        sub,
        status=status,
        customer="cus_1",
        period_start=T0 + period * MONTH,
        period_end=T0 + (period + 1) * MONTH,
        metadata=se.tenant_metadata("tenant_1", "starter_month"),
        **extra,
    )
    return se.event(f"customer.subscription.{kind}", obj, created=created)


# --- signatures -------------------------------------------------------------------------------


async def test_bad_signatures_are_400_and_store_nothing(hooks: Api) -> None:
    payload = sub_event("created", "sub_sig", "active", T0)
    body = se.encode(payload)
    cases = {
        "wrong secret": {"Stripe-Signature": se.sign(body, "whsec_wrong")},
        "missing header": {},
        "stale timestamp": {"Stripe-Signature": se.sign(body, SECRET, int(time.time()) - 3600)},
        "garbage header": {"Stripe-Signature": "nonsense"},
    }
    for name, headers in cases.items():
        reply = await hooks.post("/webhooks/stripe", data=body, headers=headers, token=None)
        assert reply.status == 400, name
        assert reply.body["code"] == "webhook_signature_invalid", name
    tampered = body.replace(b'"active"', b'"canceled"')
    reply = await hooks.post(
        "/webhooks/stripe",
        data=tampered,
        headers={"Stripe-Signature": se.sign(body, SECRET)},
        token=None,
    )
    assert reply.status == 400
    assert await ProviderEvent.all().count() == 0
    assert await Subscription.all().count() == 0


async def test_rotated_secrets_are_both_accepted(hooks: Api) -> None:
    first = await post_event(
        hooks, sub_event("created", "sub_rot", "active", T0), secret="whsec_old"
    )
    second = await post_event(
        hooks, sub_event("updated", "sub_rot", "past_due", T0 + 5), secret=SECRET
    )
    assert (first.status, second.status) == (200, 200)
    assert (await Subscription.get(provider_subscription_id="sub_rot")).status == "past_due"


async def test_unknown_provider_is_404_and_big_bodies_413(hooks: Api) -> None:
    reply = await hooks.post(
        "/webhooks/paypal", data=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}, token=None
    )
    assert reply.status == 404
    assert reply.body["code"] == "provider_not_found"
    huge = b'{"id": "' + b"x" * (1024 * 1024) + b'"}'
    reply = await hooks.post(
        "/webhooks/stripe",
        data=huge,
        headers={"Stripe-Signature": se.sign(huge, SECRET)},
        token=None,
    )
    assert reply.status == 413
    assert await ProviderEvent.all().count() == 0


async def test_signed_garbage_is_400_and_stores_nothing(hooks: Api) -> None:
    body = b"not json at all"
    reply = await hooks.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": se.sign(body, SECRET)},
        token=None,
    )
    assert reply.status == 400
    assert reply.body["code"] == "webhook_payload_invalid"
    assert await ProviderEvent.all().count() == 0


async def test_webhooks_need_no_internal_token_but_a_configured_secret(make_app: Any) -> None:
    api = Api(await make_app(STRIPE_SECRET_KEY="sk_test_x"), TOKEN)
    reply = await post_event(api, sub_event("created", "sub_nosecret", "active", T0))
    assert reply.status == 400
    assert "no webhook secret" in reply.body["message"]


# --- storage and dedupe ---------------------------------------------------------------------------


async def test_unhandled_types_are_stored_and_answered_200(hooks: Api) -> None:
    payload = se.event("customer.created", se.fixture("customer"), created=T0)
    reply = await post_event(hooks, payload)
    assert reply.status == 200
    assert reply.body == {"received": True, "status": "ignored"}
    stored = await ProviderEvent.get(provider_event_id=payload["id"])
    assert (stored.type, stored.status) == ("customer.created", "ignored")
    assert await NormalizedEvent.all().count() == 0


async def test_a_repeat_changes_nothing(hooks: Api) -> None:
    payload = sub_event("created", "sub_dup", "active", T0)
    assert (await post_event(hooks, payload)).body["status"] == "processed"
    again = await post_event(hooks, payload)
    assert again.status == 200
    assert again.body["status"] == "duplicate"
    assert await ProviderEvent.all().count() == 1
    assert await event_types() == ["subscription.created"]


async def test_twenty_copies_at_once_make_one_record_and_one_set_of_events(hooks: Api) -> None:
    payload = sub_event("created", "sub_race", "active", T0)
    replies = await asyncio.gather(*(post_event(hooks, payload) for _ in range(20)))
    assert {reply.status for reply in replies} == {200}
    assert sorted(r.body["status"] for r in replies).count("processed") == 1
    assert await ProviderEvent.all().count() == 1
    assert await Subscription.all().count() == 1
    assert await event_types() == ["subscription.created"]
    assert await EventDelivery.all().count() == 1


# --- the subscription flow --------------------------------------------------------------------------


async def test_subscription_lifecycle(hooks: Api) -> None:
    await open_checkout("cs_sub", "tenant_1", "starter_month", "subscription")
    completed = se.checkout_session(
        "cs_sub",
        mode="subscription",
        customer="cus_1",
        subscription="sub_1",
        metadata=se.tenant_metadata("tenant_1", "starter_month"),
    )
    steps: list[tuple[dict[str, Any], str, list[str]]] = [
        (
            se.event("checkout.session.completed", completed, created=T0),
            "active?",
            ["checkout.completed"],
        ),
        (sub_event("created", "sub_1", "active", T0 + 1), "active", ["subscription.created"]),
        (
            se.event(
                "invoice.paid",
                se.invoice(
                    "in_2",
                    subscription_id="sub_1",
                    customer="cus_1",
                    period_start=T0 + MONTH,
                    period_end=T0 + 2 * MONTH,
                ),
                created=T0 + MONTH,
            ),
            "active",
            ["invoice.paid", "subscription.updated"],
        ),
        (
            se.event(
                "invoice.payment_failed",
                se.invoice(
                    "in_3",
                    subscription_id="sub_1",
                    customer="cus_1",
                    period_start=T0 + 2 * MONTH,
                    period_end=T0 + 3 * MONTH,
                ),
                created=T0 + 2 * MONTH,
            ),
            "active",
            ["invoice.payment_failed", "subscription.payment_failed"],
        ),
        (
            sub_event("updated", "sub_1", "past_due", T0 + 2 * MONTH + 1, period=1),
            "past_due",
            ["subscription.updated"],
        ),
        (
            sub_event(
                "deleted",
                "sub_1",
                "canceled",
                T0 + 3 * MONTH,
                period=1,
                canceled_at=T0 + 3 * MONTH,
                ended_at=T0 + 3 * MONTH,
            ),
            "canceled",
            ["subscription.canceled"],
        ),
    ]
    seen: list[str] = []
    for payload, _, emitted in steps:
        reply = await post_event(hooks, payload)
        assert reply.status == 200, reply.body
        seen += emitted
        assert await event_types("tenant_1") == seen
    record = await Subscription.get(provider_subscription_id="sub_1")
    assert record.status == "canceled"
    assert record.consumer_key == "funnel"
    assert record.pricing_item_code == "starter_month"
    assert record.ended_at is not None
    session = await CheckoutSession.get(provider_checkout_session_id="cs_sub")
    assert session.status == "complete"
    assert session.subscription_id == record.id  # type: ignore[attr-defined]
    # Each event carries the contract's shape and goes to the funnel consumer.
    last = await NormalizedEvent.all().order_by("-created_at").first()
    assert last is not None
    assert last.data["subscription"]["status"] == "canceled"
    assert last.data["pricingItemCode"] == "starter_month"
    deliveries = await EventDelivery.all()
    assert {d.consumer_key for d in deliveries} == {"funnel"}
    assert len(deliveries) == len(seen)


async def test_plan_status_follows_the_subscription(hooks: Api) -> None:
    path = "/internal/payments/tenants/tenant_1/plan-status"
    none = await hooks.get(path)
    assert none.status == 200
    assert none.body["status"] == "none"
    assert none.body["entitled"] is False
    assert none.body["features"] == {}
    await post_event(hooks, sub_event("created", "sub_ps", "active", T0))
    active = (await hooks.get(path, query={"consumerKey": "funnel"})).body
    assert active["entitled"] is True
    assert active["plan"] == {
        "code": "starter_month",
        "name": "Starter",
        "kind": "recurring",
        "interval": "month",
    }
    assert active["subscription"]["status"] == "active"
    assert active["features"] == {"funnels": 5, "exports": False}
    other_product = (await hooks.get(path, query={"consumerKey": "other"})).body
    assert other_product["status"] == "none"
    await post_event(hooks, sub_event("updated", "sub_ps", "past_due", T0 + 10))
    assert (await hooks.get(path)).body["entitled"] is False  # grace 0 days, period long over


async def test_past_due_is_entitled_within_the_grace_period(make_app: Any) -> None:
    api = Api(await make_app(STRIPE_WEBHOOK_SECRET=SECRET, PAYMENTS_PAST_DUE_GRACE_DAYS="3"), TOKEN)
    now = int(time.time())
    payload = se.event(
        "customer.subscription.updated",
        se.subscription(
            "sub_grace",
            status="past_due",
            customer="cus_1",
            period_start=now - 86400,
            period_end=now + MONTH - 86400,
            metadata=se.tenant_metadata("tenant_g", "starter_month"),
        ),
        created=now,
    )
    assert (await post_event(api, payload)).status == 200
    body = (await api.get("/internal/payments/tenants/tenant_g/plan-status")).body
    assert (body["status"], body["entitled"]) == ("past_due", True)


# --- one-time purchases -------------------------------------------------------------------------------


async def test_one_time_purchase_paid_then_refunded_partly_then_fully(hooks: Api) -> None:
    await open_checkout("cs_pay", "tenant_2", "lifetime_addon", "payment")
    completed = se.checkout_session(
        "cs_pay",
        mode="payment",
        customer="cus_2",
        payment_intent="pi_1",
        amount_total=4900,
        metadata=se.tenant_metadata("tenant_2", "lifetime_addon"),
    )
    assert (
        await post_event(hooks, se.event("checkout.session.completed", completed, created=T0))
    ).status == 200
    purchase = await Purchase.get(provider_payment_id="pi_1")
    assert (purchase.status, purchase.amount, purchase.currency) == ("paid", 4900, "eur")
    assert purchase.paid_at is not None
    assert await event_types("tenant_2") == ["checkout.completed", "purchase.paid"]
    session = await CheckoutSession.get(provider_checkout_session_id="cs_pay")
    assert session.purchase_id == purchase.id  # type: ignore[attr-defined]

    plan = (await hooks.get("/internal/payments/tenants/tenant_2/plan-status")).body
    assert plan["status"] == "none"
    assert plan["purchases"][0]["pricingItemCode"] == "lifetime_addon"
    assert plan["features"] == {"funnels": 20, "exports": True}

    partial = se.charge("ch_1", payment_intent="pi_1", amount=4900, amount_refunded=1000)
    await post_event(hooks, se.event("charge.refunded", partial, created=T0 + 10))
    assert (await Purchase.get(provider_payment_id="pi_1")).status == "partially_refunded"
    full = se.charge("ch_1", payment_intent="pi_1", amount=4900, amount_refunded=4900)
    await post_event(hooks, se.event("charge.refunded", full, created=T0 + 20))
    await post_event(
        hooks, se.event("charge.refunded", partial, created=T0 + 10)
    )  # late, changes nothing
    refunded = await Purchase.get(provider_payment_id="pi_1")
    assert (refunded.status, refunded.amount_refunded) == ("refunded", 4900)
    assert refunded.refunded_at is not None
    assert await event_types("tenant_2") == [
        "checkout.completed",
        "purchase.paid",
        "purchase.refunded",
        "purchase.refunded",
    ]
    assert (await hooks.get("/internal/payments/tenants/tenant_2/plan-status")).body[
        "features"
    ] == {}


async def test_async_payment_pending_then_succeeded_or_failed(hooks: Api) -> None:
    for session_id, intent, outcome, expected in (
        ("cs_async_ok", "pi_ok", "succeeded", "paid"),
        ("cs_async_ko", "pi_ko", "failed", "failed"),
    ):
        tenant = f"tenant_{session_id}"
        await open_checkout(session_id, tenant, "lifetime_addon", "payment")
        meta = se.tenant_metadata(tenant, "lifetime_addon")
        unpaid = se.checkout_session(
            session_id,
            mode="payment",
            payment_status="unpaid",
            payment_intent=intent,
            amount_total=4900,
            metadata=meta,
        )
        await post_event(hooks, se.event("checkout.session.completed", unpaid, created=T0))
        assert (await Purchase.get(provider_payment_id=intent)).status == "pending"
        settled = se.checkout_session(
            session_id,
            mode="payment",
            payment_status="paid" if expected == "paid" else "unpaid",
            payment_intent=intent,
            amount_total=4900,
            metadata=meta,
        )
        await post_event(
            hooks, se.event(f"checkout.session.async_payment_{outcome}", settled, created=T0 + 60)
        )
        assert (await Purchase.get(provider_payment_id=intent)).status == expected
        assert await event_types(tenant) == ["checkout.completed", f"purchase.{expected}"]


async def test_expired_checkout(hooks: Api) -> None:
    await open_checkout("cs_exp", "tenant_3", "starter_month", "subscription")
    expired = se.checkout_session(
        "cs_exp", mode="subscription", status="expired", payment_status="unpaid"
    )
    await post_event(hooks, se.event("checkout.session.expired", expired, created=T0))
    assert (await CheckoutSession.get(provider_checkout_session_id="cs_exp")).status == "expired"
    assert await event_types("tenant_3") == ["checkout.expired"]
    # A late "completed" cannot reopen or complete an expired session.
    late = se.checkout_session(
        "cs_exp", mode="subscription", status="open", payment_status="unpaid"
    )
    await post_event(hooks, se.event("checkout.session.completed", late, created=T0 - 10))
    assert (await CheckoutSession.get(provider_checkout_session_id="cs_exp")).status == "expired"


# --- ordering ---------------------------------------------------------------------------------------------


async def test_a_stale_event_never_rolls_back(hooks: Api) -> None:
    await post_event(
        hooks, sub_event("updated", "sub_order", "canceled", T0 + 100, ended_at=T0 + 100)
    )
    await post_event(hooks, sub_event("updated", "sub_order", "active", T0 + 50))
    await post_event(hooks, sub_event("created", "sub_order", "incomplete", T0))
    assert (await Subscription.get(provider_subscription_id="sub_order")).status == "canceled"
    assert await event_types() == ["subscription.canceled"]


async def test_update_before_checkout_completed_is_applied_with_its_metadata(hooks: Api) -> None:
    await open_checkout("cs_late", "tenant_1", "starter_month", "subscription")
    await post_event(hooks, sub_event("updated", "sub_early", "active", T0 + 5))
    record = await Subscription.get(provider_subscription_id="sub_early")
    assert (record.consumer_tenant_id, record.status) == ("tenant_1", "active")
    completed = se.checkout_session(
        "cs_late",
        mode="subscription",
        customer="cus_1",
        subscription="sub_early",
        metadata=se.tenant_metadata("tenant_1", "starter_month"),
    )
    await post_event(hooks, se.event("checkout.session.completed", completed, created=T0))
    session = await CheckoutSession.get(provider_checkout_session_id="cs_late")
    assert session.subscription_id == record.id  # type: ignore[attr-defined]


async def test_event_for_an_unknown_tenant_is_kept_and_applied_later(hooks: Api) -> None:
    anonymous = se.subscription(
        "sub_anon", status="active", customer="cus_anon", period_start=T0, period_end=T0 + MONTH
    )
    reply = await post_event(
        hooks, se.event("customer.subscription.updated", anonymous, created=T0 + 5)
    )
    assert reply.status == 200
    assert reply.body["status"] == "deferred"
    assert await Subscription.all().count() == 0
    renewal = se.invoice(
        "in_anon",
        subscription_id="sub_anon",
        customer="cus_anon",
        period_start=T0 + MONTH,
        period_end=T0 + 2 * MONTH,
    )
    assert (await post_event(hooks, se.event("invoice.paid", renewal, created=T0 + MONTH))).body[
        "status"
    ] == "deferred"
    # The tenant becomes known: a checkout for that customer completes.
    await open_checkout(
        "cs_anon", "tenant_anon", "starter_month", "subscription", customer="cus_anon"
    )
    completed = se.checkout_session(
        "cs_anon",
        mode="subscription",
        customer="cus_anon",
        subscription="sub_anon",
        metadata=se.tenant_metadata("tenant_anon", "starter_month"),
    )
    await post_event(hooks, se.event("checkout.session.completed", completed, created=T0 + 1))
    assert await ProviderCustomer.filter(
        provider_customer_id="cus_anon", consumer_tenant_id="tenant_anon"
    ).exists()
    record = await Subscription.get(provider_subscription_id="sub_anon")
    assert record.consumer_tenant_id == "tenant_anon"
    assert record.current_period_end is not None
    assert int(record.current_period_end.timestamp()) == T0 + 2 * MONTH
    assert await ProviderEvent.filter(status="deferred").count() == 0
    assert await event_types("tenant_anon") == [
        "checkout.completed",
        "subscription.created",
        "invoice.paid",
        "subscription.updated",
    ]


async def test_old_api_versions_read_the_period_from_the_top_level(hooks: Api) -> None:
    obj = se.subscription(
        "sub_old",
        status="active",
        customer="cus_1",
        period_start=T0,
        period_end=T0 + MONTH,
        metadata=se.tenant_metadata("tenant_old", "starter_month"),
        new_api=False,
    )
    await post_event(
        hooks, se.event("customer.subscription.created", obj, created=T0, api_version=se.OLD_API)
    )
    renewal = se.invoice(
        "in_old",
        subscription_id="sub_old",
        customer="cus_1",
        period_start=T0 + MONTH,
        period_end=T0 + 2 * MONTH,
        new_api=False,
    )
    await post_event(
        hooks, se.event("invoice.paid", renewal, created=T0 + MONTH, api_version=se.OLD_API)
    )
    record = await Subscription.get(provider_subscription_id="sub_old")
    assert record.current_period_end is not None
    assert int(record.current_period_end.timestamp()) == T0 + 2 * MONTH
    stored = await ProviderEvent.filter(type="invoice.paid").first()
    assert stored is not None
    assert stored.api_version == se.OLD_API


async def test_facts_can_be_applied_without_events(hooks: Api) -> None:
    from core.facts import SubscriptionFact
    from core.ingest.apply import apply_facts
    from core.timeutil import from_unix

    fact = SubscriptionFact(
        provider_subscription_id="sub_quiet",
        provider_customer_id="cus_q",
        status="active",
        current_period_start=from_unix(T0),
        current_period_end=from_unix(T0 + MONTH),
        cancel_at_period_end=False,
        canceled_at=None,
        trial_end=None,
        ended_at=None,
        metadata=se.tenant_metadata("tenant_q", "starter_month"),
    )
    occurred = from_unix(T0)
    assert occurred is not None
    await apply_facts("stripe", [fact], occurred_at=occurred, emit_events=False)
    assert (await Subscription.get(provider_subscription_id="sub_quiet")).status == "active"
    assert await NormalizedEvent.all().count() == 0
    assert await EventDelivery.all().count() == 0


async def test_a_plan_change_at_the_provider_moves_the_subscription_to_the_new_item(
    hooks: Api,
) -> None:
    from core.models import PricingItemProviderPrice

    pro = await PricingItem.create(
        code="pro_month",
        name="Pro",
        kind="recurring",
        unit_amount=4900,
        currency="eur",
        interval="month",
        features={"funnels": 50},
    )
    starter = await PricingItem.get(code="starter_month")
    await PricingItemProviderPrice.create(
        item=starter, provider_key="stripe", provider_price_id="price_starter"
    )
    await PricingItemProviderPrice.create(
        item=pro, provider_key="stripe", provider_price_id="price_pro"
    )
    await post_event(hooks, sub_event("created", "sub_plan", "active", T0))
    upgraded = se.subscription(
        "sub_plan",
        status="active",
        customer="cus_1",
        period_start=T0,
        period_end=T0 + MONTH,
        metadata=se.tenant_metadata("tenant_1", "starter_month"),
        price="price_pro",
    )
    await post_event(hooks, se.event("customer.subscription.updated", upgraded, created=T0 + 60))
    record = await Subscription.get(provider_subscription_id="sub_plan")
    assert record.pricing_item_code == "pro_month"
    plan = (await hooks.get("/internal/payments/tenants/tenant_1/plan-status")).body
    assert (plan["plan"]["code"], plan["features"]) == ("pro_month", {"funnels": 50})
    assert await event_types("tenant_1") == ["subscription.created", "subscription.updated"]
    last = await NormalizedEvent.all().order_by("-created_at").first()
    assert last is not None
    assert last.data["pricingItemCode"] == "pro_month"
