"""The Stripe plugin's webhook side: `Stripe-Signature` checks and events parsed into facts.

Payloads are Stripe's own example objects (`fixtures3.json`) with our metadata, signed
as Stripe signs them: `t=<ts>,v1=<hex hmac-sha256 of "<ts>.<body>">`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from stripe_provider.provider import StripeProvider
from stripe_provider.settings import StripeSettings

from core.errors import ApiError, WebhookSignatureInvalid
from core.facts import CheckoutSessionFact, InvoiceFact, PaymentFact, RefundFact, SubscriptionFact
from tests.support.stripe_standin.spec import fixtures

SECRET = "whsec_current_0123456789"
OLD_SECRET = "whsec_previous_9876543210"
METADATA = {
    "consumerKey": "funnel",
    "consumerTenantId": "tenant_123",
    "pricingItemCode": "starter_month",
}
NEW_API = "2026-10-28.endive"
OLD_API = "2023-08-16"


def provider(*secrets: str, tolerance: int = 300) -> StripeProvider:
    settings = StripeSettings.model_validate(
        {
            "secret_key": "sk_test_x",
            "webhook_secrets": ",".join(secrets),
            "webhook_tolerance": tolerance,
        }
    )
    return StripeProvider("stripe", settings)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={mac}"}


def example(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(fixtures()[name])
    found.update(changes)
    return found


def event(event_type: str, obj: dict[str, Any], api_version: str = NEW_API) -> bytes:
    return orjson.dumps(
        {
            "id": "evt_1Test",
            "object": "event",
            "api_version": api_version,
            "created": 1764237600,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
    )


# -- signatures ------------------------------------------------------------------------


def test_a_body_signed_with_the_secret_is_accepted() -> None:
    body = event("invoice.paid", example("invoice"))
    provider(SECRET).verify_webhook(body, sign(body, SECRET))


def test_the_header_name_is_case_insensitive() -> None:
    body = event("invoice.paid", example("invoice"))
    header = sign(body, SECRET)["Stripe-Signature"]
    provider(SECRET).verify_webhook(body, {"stripe-signature": header})


def test_both_secrets_are_accepted_while_one_is_rotated() -> None:
    body = event("invoice.paid", example("invoice"))
    rotating = provider(SECRET, OLD_SECRET)
    rotating.verify_webhook(body, sign(body, SECRET))
    rotating.verify_webhook(body, sign(body, OLD_SECRET))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong secret", "does not match"),
        ("tampered body", "does not match"),
        ("stale timestamp", "older than the 300s tolerance"),
        ("missing header", "missing Stripe-Signature"),
        ("garbage header", "does not match"),
        ("other scheme", "does not match"),
    ],
)
def test_a_bad_signature_is_refused(case: str, message: str) -> None:
    body = event("invoice.paid", example("invoice"))
    headers = {
        "wrong secret": sign(body, "whsec_someone_else"),
        "tampered body": sign(body, SECRET),
        "stale timestamp": sign(body, SECRET, int(time.time()) - 301),
        "missing header": {},
        "garbage header": {"Stripe-Signature": "nonsense"},
        "other scheme": {
            "Stripe-Signature": sign(body, SECRET)["Stripe-Signature"].replace("v1=", "v0=")
        },
    }[case]
    sent = body.replace(b"evt_1Test", b"evt_2Test") if case == "tampered body" else body
    with pytest.raises(WebhookSignatureInvalid) as refused:
        provider(SECRET).verify_webhook(sent, headers)
    assert message in refused.value.message
    assert refused.value.status_code == 400
    assert SECRET not in refused.value.message


def test_a_fresh_timestamp_within_the_tolerance_is_accepted() -> None:
    body = event("invoice.paid", example("invoice"))
    provider(SECRET).verify_webhook(body, sign(body, SECRET, int(time.time()) - 250))


def test_without_a_configured_secret_nothing_is_accepted() -> None:
    body = event("invoice.paid", example("invoice"))
    with pytest.raises(WebhookSignatureInvalid) as refused:
        provider().verify_webhook(body, sign(body, SECRET))
    assert "no webhook secret" in refused.value.message


# -- parsing ---------------------------------------------------------------------------


def parse(event_type: str, obj: dict[str, Any], api_version: str = NEW_API) -> Any:
    return provider(SECRET).parse_webhook(event(event_type, obj, api_version))


def test_the_event_identity_and_time_are_kept() -> None:
    parsed = parse("invoice.paid", example("invoice"))
    assert parsed.provider_event_id == "evt_1Test"
    assert parsed.type == "invoice.paid"
    assert parsed.created_at == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)
    assert parsed.api_version == NEW_API


def test_a_completed_subscription_checkout() -> None:
    session = example(
        "checkout.session",
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer="cus_1",
        subscription="sub_1",
        payment_intent=None,
        amount_total=1900,
        currency="eur",
        metadata=METADATA,
    )
    parsed = parse("checkout.session.completed", session)
    assert parsed.facts == (
        CheckoutSessionFact(
            provider_checkout_session_id=session["id"],
            status="complete",
            payment_status="paid",
            mode="subscription",
            provider_customer_id="cus_1",
            provider_subscription_id="sub_1",
            provider_payment_id=None,
            amount_total=1900,
            currency="eur",
            metadata=METADATA,
        ),
    )


def _payment_session(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mode": "payment",
        "status": "complete",
        "customer": "cus_1",
        "payment_intent": "pi_1",
        "amount_total": 4900,
        "currency": "eur",
        "metadata": METADATA,
    }
    return example("checkout.session", **{**values, **changes})


@pytest.mark.parametrize(
    ("event_type", "payment_status", "outcome"),
    [
        ("checkout.session.completed", "paid", None),
        ("checkout.session.completed", "unpaid", None),
        ("checkout.session.async_payment_succeeded", "paid", "paid"),
        ("checkout.session.async_payment_failed", "unpaid", "failed"),
    ],
)
def test_a_one_time_checkout_is_the_session_with_its_delayed_payments_outcome(
    event_type: str, payment_status: str, outcome: str | None
) -> None:
    """The plugin reports the session only; the core makes the purchase from it
    (`core.ingest.appliers.checkout`), paid, pending or failed as the outcome says."""
    session = _payment_session(payment_status=payment_status)
    [checkout_fact] = parse(event_type, session).facts
    assert isinstance(checkout_fact, CheckoutSessionFact)
    assert (checkout_fact.provider_payment_id, checkout_fact.payment_status) == (
        "pi_1",
        payment_status,
    )
    assert checkout_fact.payment_outcome == outcome


def test_an_expired_checkout_is_only_the_session() -> None:
    session = _payment_session(status="expired", payment_status="unpaid", payment_intent=None)
    [fact] = parse("checkout.session.expired", session).facts
    assert isinstance(fact, CheckoutSessionFact)
    assert fact.status == "expired"


def _subscription_new_api() -> dict[str, Any]:
    sub = example(
        "subscription",
        customer={"id": "cus_1", "object": "customer"},
        status="active",
        metadata=METADATA,
        cancel_at_period_end=True,
        canceled_at=None,
        ended_at=None,
        trial_end=None,
    )
    item = sub["items"]["data"][0]
    item["current_period_start"], item["current_period_end"] = 1764237600, 1766829600
    return sub


def test_a_subscription_of_a_new_api_version_takes_its_period_from_its_item() -> None:
    sub = _subscription_new_api()
    [fact] = parse("customer.subscription.updated", sub).facts
    assert fact == SubscriptionFact(
        provider_subscription_id=sub["id"],
        provider_customer_id="cus_1",
        status="active",
        current_period_start=datetime(2025, 11, 27, 10, 0, tzinfo=UTC),
        current_period_end=datetime(2025, 12, 27, 10, 0, tzinfo=UTC),
        cancel_at_period_end=True,
        canceled_at=None,
        trial_end=None,
        ended_at=None,
        provider_price_id=sub["items"]["data"][0]["price"]["id"],
        metadata=METADATA,
    )


def test_a_subscription_of_an_old_api_version_takes_its_period_from_the_top() -> None:
    sub = _subscription_new_api()
    for item in sub["items"]["data"]:
        del item["current_period_start"], item["current_period_end"]
    sub.update(current_period_start=1764237600, current_period_end=1766829600)
    [fact] = parse("customer.subscription.created", sub, OLD_API).facts
    assert isinstance(fact, SubscriptionFact)
    assert fact.current_period_start == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)
    assert fact.current_period_end == datetime(2025, 12, 27, 10, 0, tzinfo=UTC)


def test_a_deleted_subscription_is_canceled() -> None:
    sub = _subscription_new_api()
    sub.update(status="active", ended_at=1766829600, canceled_at=1764237600)
    [fact] = parse("customer.subscription.deleted", sub).facts
    assert isinstance(fact, SubscriptionFact)
    assert fact.status == "canceled"
    assert fact.ended_at == datetime(2025, 12, 27, 10, 0, tzinfo=UTC)


def _invoice_line(start: int, end: int) -> dict[str, Any]:
    line: dict[str, Any] = copy.deepcopy(fixtures()["invoice"]["lines"]["data"][0])
    line["period"] = {"start": start, "end": end}
    return line


def test_a_paid_invoice_of_a_new_api_version() -> None:
    invoice = example(
        "invoice",
        customer="cus_1",
        subscription=None,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": METADATA, "subscription": "sub_1"},
        },
    )
    invoice["lines"]["data"] = [_invoice_line(1766829600, 1769508000)]
    invoice.update(
        status="paid",
        number="A1B2C3-0002",
        amount_due=1900,
        amount_paid=1900,
        currency="eur",
        hosted_invoice_url="https://invoice.stripe.com/i/acct_1/in_1",
        invoice_pdf="https://pay.stripe.com/invoice/acct_1/in_1/pdf",
    )
    [fact] = parse("invoice.paid", invoice).facts
    assert fact == InvoiceFact(
        provider_subscription_id="sub_1",
        provider_customer_id="cus_1",
        paid=True,
        period_start=datetime(2025, 12, 27, 10, 0, tzinfo=UTC),
        period_end=datetime(2026, 1, 27, 10, 0, tzinfo=UTC),
        metadata=METADATA,
        provider_invoice_id=invoice["id"],
        status="paid",
        number="A1B2C3-0002",
        amount_due=1900,
        amount_paid=1900,
        currency="eur",
        hosted_invoice_url="https://invoice.stripe.com/i/acct_1/in_1",
        invoice_pdf_url="https://pay.stripe.com/invoice/acct_1/in_1/pdf",
        provider_payment_id=None,
    )


def test_a_failed_invoice_of_an_old_api_version() -> None:
    invoice = example("invoice", customer="cus_1", subscription="sub_1", parent=None)
    invoice["subscription_details"] = {"metadata": METADATA}
    invoice["lines"]["data"] = [_invoice_line(1766829600, 1769508000)]
    [fact] = parse("invoice.payment_failed", invoice, OLD_API).facts
    assert isinstance(fact, InvoiceFact)
    assert (fact.provider_subscription_id, fact.paid) == ("sub_1", False)
    assert fact.metadata == METADATA


def test_a_refunded_charge_refunds_its_payment_intent() -> None:
    charge = example(
        "charge", payment_intent="pi_1", amount=4900, amount_refunded=1000, metadata=METADATA
    )
    [fact] = parse("charge.refunded", charge).facts
    assert fact == RefundFact(
        provider_payment_id="pi_1", amount=4900, amount_refunded=1000, metadata=METADATA
    )


def test_a_charge_without_a_payment_intent_says_nothing() -> None:
    assert parse("charge.refunded", example("charge", payment_intent=None)).facts == ()


def test_only_our_payment_intents_become_payment_facts() -> None:
    ours = example("payment_intent", status="succeeded", metadata=METADATA, currency="eur")
    [fact] = parse("payment_intent.succeeded", ours).facts
    assert isinstance(fact, PaymentFact)
    assert (fact.status, fact.metadata) == ("paid", METADATA)
    foreign = example("payment_intent", status="succeeded", metadata={})
    assert parse("payment_intent.succeeded", foreign).facts == ()


def test_an_unhandled_event_type_has_no_facts() -> None:
    parsed = parse("plan.created", fixtures()["event"]["data"]["object"])
    assert parsed.facts == ()
    assert parsed.type == "plan.created"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"type": "invoice.paid"}', b'{"id": "evt_1", "type": "invoice.paid"}'],
)
def test_a_body_that_is_no_stripe_event_is_a_400(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        provider(SECRET).parse_webhook(body)
    assert refused.value.status_code == 400
    assert refused.value.code == "webhook_payload_invalid"
