"""The Stripe provider's managing calls against the stand-in Stripe: cancel, resume, change,
preview, portal and refunds, what each sends (valid against Stripe's schema, with the host's
idempotency key), what it answers, and how a failure at Stripe becomes a 502."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from stripe_provider.provider import StripeProvider
from stripe_provider.settings import StripeSettings
from stripe_provider.subscriptions import PREVIEW_API_VERSION

from core.errors import ProviderError
from core.facts import DisputeFact, InvoiceFact, RefundFact
from core.providers import (
    MANAGING_CAPABILITIES,
    CheckoutItem,
    CheckoutRequest,
    PortalRequest,
    RefundRequest,
    SubscriptionChange,
)
from tests.support import stripe_events
from tests.support.stripe_standin.plugins_toml import SECRET_KEY
from tests.support.stripe_standin.server import StripeStandIn

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]

TENANT = {"consumerKey": "funnel", "consumerTenantId": "tenant_123"}
WEBHOOK_SECRET = "whsec_standin_managing"


def item(code: str, price: str, amount: int, kind: str = "recurring") -> CheckoutItem:
    return CheckoutItem(
        code=code,
        name=code.title(),
        description=None,
        kind=kind,  # type: ignore[arg-type]
        unit_amount=amount,
        currency="eur",
        interval="month" if kind == "recurring" else None,
        interval_count=1,
        trial_days=0,
        provider_price_id=price,
        provider_product_id=None,
    )


STARTER = item("starter_month", "price_starter", 1900)
PRO = item("pro_month", "price_pro", 4900)
LIFETIME = item("lifetime_addon", "price_lifetime", 4900, "one_time")


def checkout_request(bought: CheckoutItem, key: str = "checkout-1", **more: Any) -> CheckoutRequest:
    return CheckoutRequest(
        item=bought,
        consumer_key="funnel",
        consumer_tenant_id="tenant_123",
        tenant_name="Demo",
        legal_name=None,
        billing_email="billing@example.test",
        success_url="https://funnel.test/done",
        cancel_url="https://funnel.test/cancel",
        provider_customer_id=None,
        idempotency_key=key,
        **more,
    )


@pytest.fixture
async def provider(stripe_standin: StripeStandIn) -> AsyncIterator[StripeProvider]:
    settings = StripeSettings.model_validate(
        {
            "secret_key": SECRET_KEY,
            "api_base": stripe_standin.url,
            "request_timeout": 0.5,
            "retry_initial_delay": 0.01,
            "webhook_secrets": WEBHOOK_SECRET,
        }
    )
    made = StripeProvider("stripe", settings)
    stripe_standin.add_price("price_starter", 1900, "eur", "month")
    stripe_standin.add_price("price_pro", 4900, "eur", "month")
    stripe_standin.add_price("price_lifetime", 4900, "eur", None)
    yield made
    stripe_standin.release_slow()
    await made.close()


async def bought(provider: StripeProvider, standin: StripeStandIn, what: CheckoutItem) -> str:
    """A completed checkout of `what`: the subscription's id, or the payment intent's."""
    request = checkout_request(what, key=f"checkout-{what.code}")
    customer = await provider.ensure_customer(request)
    session = await provider.create_checkout_session(request, customer)
    done = standin.complete_session(session.provider_checkout_session_id)
    return str(done["subscription"] or done["payment_intent"])


def change(subscription_id: str, proration: str = "create_prorations") -> SubscriptionChange:
    return SubscriptionChange(
        provider_subscription_id=subscription_id,
        item=PRO,
        consumer_key="funnel",
        consumer_tenant_id="tenant_123",
        proration=proration,  # type: ignore[arg-type]
        idempotency_key="change-1",
    )


def test_stripe_has_every_managing_capability(provider: StripeProvider) -> None:
    assert provider.capabilities >= MANAGING_CAPABILITIES


# -- cancel and resume -----------------------------------------------------------------


async def test_cancel_at_period_end_keeps_it_active_until_then(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    fact = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k-c")
    assert (fact.status, fact.cancel_at_period_end) == ("active", True)
    assert fact.canceled_at is not None
    assert fact.ended_at is None
    assert fact.observed_at is None
    assert fact.metadata == {**TENANT, "pricingItemCode": "starter_month"}
    [call] = stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}")
    assert call.params == {"cancel_at_period_end": True}
    assert call.idempotency_key == "k-c"
    stored = stripe_standin.objects[sub_id]
    assert stored["cancel_at"] == stored["items"]["data"][0]["current_period_end"]


async def test_resume_undoes_a_pending_cancel(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k-c")
    fact = await provider.resume_subscription(sub_id, idempotency_key="k-r")
    assert (fact.status, fact.cancel_at_period_end, fact.canceled_at) == ("active", False, None)
    resume = stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}")[-1]
    assert (resume.params, resume.idempotency_key) == ({"cancel_at_period_end": False}, "k-r")
    assert stripe_standin.objects[sub_id]["cancel_at"] is None


async def test_a_replayed_answer_is_read_again_as_it_is_now(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k-c")
    await provider.resume_subscription(sub_id, idempotency_key="k-r")
    # The cancel's retry replays its first answer (pending cancel), older than the resume.
    again = await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k-c")
    assert again.cancel_at_period_end is False
    assert stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}")[-1].replayed
    assert stripe_standin.requests_to("get", f"/v1/subscriptions/{sub_id}")


async def test_a_first_answer_is_not_read_again(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k-c")
    assert stripe_standin.requests_to("get", f"/v1/subscriptions/{sub_id}") == []


async def test_cancel_now_ends_it_at_once(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    fact = await provider.cancel_subscription(sub_id, at_period_end=False, idempotency_key="k-n")
    assert fact.status == "canceled"
    assert fact.ended_at is not None and fact.canceled_at is not None
    assert fact.observed_at is None
    [call] = stripe_standin.requests_to("delete", f"/v1/subscriptions/{sub_id}")
    assert (call.params, call.idempotency_key, call.status) == ({}, "k-n", 200)


async def test_a_cancel_now_whose_answer_was_lost_is_read_back(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    stripe_standin.inject("delete", f"/v1/subscriptions/{sub_id}", "drop")
    fact = await provider.cancel_subscription(sub_id, at_period_end=False, idempotency_key="k-n")
    assert fact.status == "canceled"
    first, again = stripe_standin.requests_to("delete", f"/v1/subscriptions/{sub_id}")
    assert (first.injected, again.status) == ("drop", 400)
    assert stripe_standin.requests_to("get", f"/v1/subscriptions/{sub_id}")


async def test_cancelling_an_unknown_subscription_is_stripes_message(
    provider: StripeProvider,
) -> None:
    with pytest.raises(ProviderError) as failed:
        await provider.cancel_subscription("sub_nope", at_period_end=False, idempotency_key="k")
    assert failed.value.status_code == 502
    assert failed.value.message == "No such subscription: 'sub_nope'"


async def test_a_failure_at_stripe_is_a_502_and_changes_nothing(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    stripe_standin.inject("post", f"/v1/subscriptions/{sub_id}", "server_error")
    with pytest.raises(ProviderError) as failed:
        await provider.cancel_subscription(sub_id, at_period_end=True, idempotency_key="k")
    assert failed.value.status_code == 502
    assert failed.value.code == "provider_error"
    assert failed.value.message == "Something went wrong on Stripe's end."
    assert stripe_standin.objects[sub_id]["cancel_at_period_end"] is False


async def test_stripe_answering_too_late_is_a_502_that_says_to_retry(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    stripe_standin.inject("post", f"/v1/subscriptions/{sub_id}", "slow")
    with pytest.raises(ProviderError) as failed:
        await provider.resume_subscription(sub_id, idempotency_key="k")
    assert failed.value.status_code == 502
    assert "did not answer in time" in failed.value.message
    # A timeout is not retried by the plugin: the caller retries with the same key.
    assert len(stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}")) == 1


# -- change and its preview ------------------------------------------------------------


async def test_a_change_moves_the_item_to_the_new_price(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    stripe_standin.objects[sub_id]["metadata"]["note"] = "kept"
    item_id = stripe_standin.objects[sub_id]["items"]["data"][0]["id"]

    fact = await provider.change_subscription(change(sub_id, "always_invoice"))

    assert fact.provider_price_id == "price_pro"
    assert fact.metadata == {**TENANT, "pricingItemCode": "pro_month", "note": "kept"}
    assert fact.observed_at is None
    [call] = stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}")
    assert call.idempotency_key == "change-1"
    assert call.params == {
        "items": [{"id": item_id, "price": "price_pro"}],
        "proration_behavior": "always_invoice",
        "metadata": {**TENANT, "pricingItemCode": "pro_month"},
    }
    assert stripe_standin.prorations == [(sub_id, "always_invoice")]


async def test_a_change_to_a_price_stripe_does_not_have_is_stripes_message(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    gone = replace(change(sub_id), item=replace(PRO, provider_price_id="price_gone"))
    with pytest.raises(ProviderError) as failed:
        await provider.change_subscription(gone)
    assert failed.value.message == "No such price: 'price_gone'"
    assert stripe_standin.objects[sub_id]["items"]["data"][0]["price"]["id"] == "price_starter"


async def test_the_preview_prorates_from_now_and_changes_nothing(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    item_id = stripe_standin.objects[sub_id]["items"]["data"][0]["id"]

    preview = await provider.preview_change(change(sub_id))

    assert preview.currency == "eur"
    credit, charge = preview.lines
    assert credit.description.startswith("Unused time on")
    assert charge.description.startswith("Remaining time on")
    # Bought just now: nearly the whole period is left.
    assert -1900 <= credit.amount < -1800
    assert 4800 < charge.amount <= 4900
    assert preview.amount_due == credit.amount + charge.amount
    [call] = stripe_standin.requests_to("get", "/v1/invoices/upcoming")
    assert call.stripe_version == PREVIEW_API_VERSION
    assert call.idempotency_key is None
    assert call.params == {
        "customer": stripe_standin.objects[sub_id]["customer"],
        "subscription": sub_id,
        "subscription_items": {"0": {"id": item_id, "price": "price_pro"}},
        "subscription_proration_behavior": "create_prorations",
        "subscription_proration_date": str(int(preview.proration_date.timestamp())),
    }
    assert stripe_standin.objects[sub_id]["items"]["data"][0]["price"]["id"] == "price_starter"
    assert stripe_standin.requests_to("post", f"/v1/subscriptions/{sub_id}") == []


async def test_a_preview_without_proration_is_nothing_due(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    preview = await provider.preview_change(change(sub_id, "none"))
    assert (preview.amount_due, preview.lines) == (0, ())


async def test_a_failed_preview_is_a_502(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    stripe_standin.inject("get", "/v1/invoices/upcoming", "server_error")
    with pytest.raises(ProviderError) as failed:
        await provider.preview_change(change(sub_id))
    assert failed.value.message == "Something went wrong on Stripe's end."


# -- the billing portal ----------------------------------------------------------------


def portal_request(customer: str) -> PortalRequest:
    return PortalRequest(
        provider_customer_id=customer,
        return_url="https://funnel.test/#/billing",
        consumer_key="funnel",
        consumer_tenant_id="tenant_123",
        idempotency_key="portal-1",
    )


async def test_a_portal_session_for_the_tenants_customer(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    customer = await provider.ensure_customer(checkout_request(STARTER))
    session = await provider.create_portal_session(portal_request(customer))
    [stored] = stripe_standin.of_type("billing_portal.session")
    assert session.url == f"https://billing.stripe.com/p/session/{stored['id']}"
    assert session.expires_at is None
    [call] = stripe_standin.requests_to("post", "/v1/billing_portal/sessions")
    assert call.params == {"customer": customer, "return_url": "https://funnel.test/#/billing"}
    assert call.idempotency_key == "portal-1"


async def test_a_portal_session_for_a_customer_stripe_lost_is_a_502(
    provider: StripeProvider,
) -> None:
    with pytest.raises(ProviderError) as failed:
        await provider.create_portal_session(portal_request("cus_gone"))
    assert failed.value.message == "No such customer: 'cus_gone'"


# -- refunds ---------------------------------------------------------------------------


def refund_request(intent: str, amount: int, key: str, reason: Any = None) -> RefundRequest:
    return RefundRequest(
        provider_payment_id=intent, amount=amount, reason=reason, idempotency_key=key
    )


async def test_a_partial_then_the_rest_refunded(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    metadata = {**TENANT, "pricingItemCode": "lifetime_addon"}

    first = await provider.refund_payment(
        refund_request(intent, 1000, "refund-1", "requested_by_customer")
    )
    assert first == RefundFact(
        provider_payment_id=intent, amount=4900, amount_refunded=1000, metadata=metadata
    )
    [call] = stripe_standin.requests_to("post", "/v1/refunds")
    assert call.idempotency_key == "refund-1"
    assert call.params == {
        "payment_intent": intent,
        "amount": 1000,
        "reason": "requested_by_customer",
        "metadata": metadata,
    }
    rest = await provider.refund_payment(refund_request(intent, 3900, "refund-2"))
    assert (rest.amount, rest.amount_refunded) == (4900, 4900)
    assert "reason" not in stripe_standin.requests_to("post", "/v1/refunds")[-1].params
    charge = stripe_standin.objects[stripe_standin.objects[intent]["latest_charge"]]
    assert (charge["amount_refunded"], charge["refunded"]) == (4900, True)
    assert [r["metadata"] for r in stripe_standin.of_type("refund")] == [metadata, metadata]


async def test_the_same_key_twice_refunds_once(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    first = await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    again = await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    assert first == again
    assert len(stripe_standin.of_type("refund")) == 1
    assert stripe_standin.requests_to("post", "/v1/refunds")[-1].replayed


async def test_a_replayed_refund_answers_the_total_as_it_is_now(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    await provider.refund_payment(refund_request(intent, 500, "refund-2"))
    again = await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    assert again.amount_refunded == 1500
    assert len(stripe_standin.of_type("refund")) == 2


async def test_a_refund_whose_answer_was_lost_is_retried_under_its_key(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    stripe_standin.inject("post", "/v1/refunds", "drop")
    fact = await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    assert fact.amount_refunded == 1000
    assert len(stripe_standin.of_type("refund")) == 1


async def test_more_than_is_left_is_refused_by_stripe(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    with pytest.raises(ProviderError) as failed:
        await provider.refund_payment(refund_request(intent, 5000, "refund-1"))
    assert failed.value.message == (
        "Refund amount (€50.00) is greater than unrefunded amount on charge (€49.00)"
    )
    await provider.refund_payment(refund_request(intent, 4900, "refund-2"))
    with pytest.raises(ProviderError) as refunded:
        await provider.refund_payment(refund_request(intent, 1, "refund-3"))
    assert refunded.value.message.endswith("has already been refunded.")
    assert len(stripe_standin.of_type("refund")) == 1


async def test_a_failed_refund_is_a_502_and_refunds_nothing(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    stripe_standin.inject("post", "/v1/refunds", "server_error")
    with pytest.raises(ProviderError) as failed:
        await provider.refund_payment(refund_request(intent, 1000, "refund-1"))
    assert failed.value.status_code == 502
    assert stripe_standin.of_type("refund") == []


async def test_a_refund_of_an_unknown_payment_is_stripes_message(
    provider: StripeProvider,
) -> None:
    with pytest.raises(ProviderError) as failed:
        await provider.refund_payment(refund_request("pi_nope", 100, "refund-1"))
    assert failed.value.message == "No such payment_intent: 'pi_nope'"


# -- checkout options ------------------------------------------------------------------


async def test_promotion_codes_and_automatic_tax_are_sent_only_when_asked(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    plain = checkout_request(STARTER, key="c-plain")
    customer = await provider.ensure_customer(plain)
    await provider.create_checkout_session(plain, customer)
    asked = checkout_request(STARTER, key="c-asked", allow_promotion_codes=True, automatic_tax=True)
    await provider.create_checkout_session(asked, customer)
    sent_plain, sent_asked = (
        r.params for r in stripe_standin.requests_to("post", "/v1/checkout/sessions")
    )
    for name in ("allow_promotion_codes", "automatic_tax", "customer_update"):
        assert name not in sent_plain
    assert sent_asked["allow_promotion_codes"] is True
    assert sent_asked["automatic_tax"] == {"enabled": True}
    assert sent_asked["customer_update"] == {"address": "auto"}
    assert "trial_period_days" not in sent_asked["subscription_data"]


async def test_a_trial_is_sent_only_for_more_than_zero_days(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    trial = checkout_request(replace(STARTER, trial_days=14), key="c-trial")
    customer = await provider.ensure_customer(trial)
    await provider.create_checkout_session(trial, customer)
    [call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert call.params["subscription_data"]["trial_period_days"] == 14


# -- what Stripe reports afterwards (the stand-in's objects, signed as Stripe signs) --------


def received(provider: StripeProvider, payload: dict[str, Any]) -> Any:
    """The event as the host receives it: signed, verified, parsed."""
    body = stripe_events.encode(payload)
    provider.verify_webhook(body, {"Stripe-Signature": stripe_events.sign(body, WEBHOOK_SECRET)})
    return provider.parse_webhook(body)


async def test_a_paid_invoice_of_the_stand_in_names_its_payment(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    sub_id = await bought(provider, stripe_standin, STARTER)
    invoice = stripe_standin.invoice(sub_id)
    [fact] = received(provider, stripe_standin.event("invoice.paid", invoice["id"])).facts
    assert isinstance(fact, InvoiceFact)
    assert (fact.provider_invoice_id, fact.provider_subscription_id, fact.paid) == (
        invoice["id"],
        sub_id,
        True,
    )
    assert (fact.status, fact.amount_due, fact.amount_paid, fact.currency) == (
        "paid",
        1900,
        1900,
        "eur",
    )
    assert fact.number == invoice["number"]
    assert fact.hosted_invoice_url and fact.invoice_pdf_url
    assert fact.provider_payment_id in stripe_standin.objects
    assert fact.metadata == {**TENANT, "pricingItemCode": "starter_month"}
    item = stripe_standin.objects[sub_id]["items"]["data"][0]
    assert fact.period_end is not None
    assert int(fact.period_end.timestamp()) == item["current_period_end"]


async def test_a_dispute_opened_then_lost(
    provider: StripeProvider, stripe_standin: StripeStandIn
) -> None:
    intent = await bought(provider, stripe_standin, LIFETIME)
    opened = stripe_standin.dispute(intent, status="warning_needs_response")
    [fact] = received(provider, stripe_standin.event("charge.dispute.created", opened["id"])).facts
    assert isinstance(fact, DisputeFact)
    assert (fact.provider_payment_id, fact.amount, fact.currency, fact.status) == (
        intent,
        4900,
        "eur",
        "needs_response",
    )
    assert fact.reason == "fraudulent"
    closed = stripe_standin.dispute(intent, status="lost")
    assert closed["id"] == opened["id"]
    [fact] = received(provider, stripe_standin.event("charge.dispute.closed", closed["id"])).facts
    assert isinstance(fact, DisputeFact)
    assert (fact.provider_dispute_id, fact.status) == (opened["id"], "lost")
    assert stripe_standin.objects[stripe_standin.objects[intent]["latest_charge"]]["disputed"]
