"""Stripe's invoice and dispute events parsed into `InvoiceFact`s and `DisputeFact`s.

Payloads are Stripe's example objects (`fixtures3.json`) with the fields each case is about.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from stripe_provider.provider import StripeProvider
from stripe_provider.settings import StripeSettings

from core.facts import DisputeFact, InvoiceFact
from tests.support.stripe_standin.spec import fixtures

METADATA = {
    "consumerKey": "funnel",
    "consumerTenantId": "tenant_123",
    "pricingItemCode": "starter_month",
}


def parse(event_type: str, obj: dict[str, Any], api_version: str = "2026-10-28.endive") -> Any:
    body = orjson.dumps(
        {
            "id": "evt_1Test",
            "object": "event",
            "api_version": api_version,
            "created": 1764237600,
            "data": {"object": obj},
            "type": event_type,
        }
    )
    settings = StripeSettings.model_validate({"secret_key": "sk_test_x"})
    return StripeProvider("stripe", settings).parse_webhook(body)


def example(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(fixtures()[name])
    found.update(changes)
    return found


def new_api_invoice(**changes: Any) -> dict[str, Any]:
    invoice = example(
        "invoice",
        customer="cus_1",
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": METADATA, "subscription": "sub_1"},
        },
        **changes,
    )
    invoice.pop("subscription", None)
    return invoice


@pytest.mark.parametrize(
    ("event_type", "paid"),
    [
        ("invoice.created", None),
        ("invoice.finalized", None),
        ("invoice.updated", None),
        ("invoice.paid", True),
        ("invoice.payment_failed", False),
        ("invoice.payment_succeeded", None),
        ("invoice.voided", None),
        ("invoice.marked_uncollectible", None),
    ],
)
def test_every_invoice_event_is_an_invoice_fact(event_type: str, paid: bool | None) -> None:
    invoice = new_api_invoice(status="open", number="NR-0001", amount_due=1900, currency="EUR")
    [fact] = parse(event_type, invoice).facts
    assert isinstance(fact, InvoiceFact)
    assert fact.paid is paid
    assert (fact.provider_invoice_id, fact.provider_subscription_id) == (invoice["id"], "sub_1")
    assert (fact.status, fact.number, fact.amount_due, fact.amount_paid) == (
        "open",
        "NR-0001",
        1900,
        0,
    )
    assert fact.currency == "eur"
    assert fact.metadata == METADATA
    assert fact.observed_at is None


def test_a_draft_invoice_has_no_number_or_urls_yet() -> None:
    [fact] = parse("invoice.created", new_api_invoice()).facts
    assert isinstance(fact, InvoiceFact)
    assert (fact.status, fact.number, fact.hosted_invoice_url, fact.invoice_pdf_url) == (
        "draft",
        None,
        None,
        None,
    )
    assert fact.provider_payment_id is None


def test_a_status_stripe_might_add_is_not_passed_on() -> None:
    [fact] = parse("invoice.updated", new_api_invoice(status="something_new")).facts
    assert isinstance(fact, InvoiceFact)
    assert fact.status is None


def test_the_payment_of_an_old_api_invoice_is_its_payment_intent() -> None:
    invoice = example(
        "invoice", customer="cus_1", subscription="sub_1", parent=None, payment_intent="pi_1"
    )
    [fact] = parse("invoice.paid", invoice, "2023-08-16").facts
    assert isinstance(fact, InvoiceFact)
    assert (fact.provider_subscription_id, fact.provider_payment_id) == ("sub_1", "pi_1")


def test_the_payment_of_a_new_api_invoice_is_its_first_payment() -> None:
    payment = example("invoice_payment")
    payment["payment"] = {"type": "payment_intent", "payment_intent": {"id": "pi_2"}}
    invoice = new_api_invoice(payments={"object": "list", "data": [payment], "has_more": False})
    [fact] = parse("invoice.paid", invoice).facts
    assert isinstance(fact, InvoiceFact)
    assert fact.provider_payment_id == "pi_2"


@pytest.mark.parametrize(
    ("event_type", "stripe_status", "status"),
    [
        ("charge.dispute.created", "warning_needs_response", "needs_response"),
        ("charge.dispute.created", "needs_response", "needs_response"),
        ("charge.dispute.updated", "warning_under_review", "under_review"),
        ("charge.dispute.updated", "under_review", "under_review"),
        ("charge.dispute.funds_withdrawn", "needs_response", "needs_response"),
        ("charge.dispute.closed", "won", "won"),
        ("charge.dispute.closed", "lost", "lost"),
        ("charge.dispute.closed", "warning_closed", "warning_closed"),
        ("charge.dispute.funds_reinstated", "won", "won"),
    ],
)
def test_dispute_events_are_dispute_facts(event_type: str, stripe_status: str, status: str) -> None:
    dispute = example(
        "dispute",
        status=stripe_status,
        payment_intent="pi_1",
        charge={"id": "ch_1", "object": "charge"},
        amount=4900,
        currency="EUR",
        reason="fraudulent",
    )
    [fact] = parse(event_type, dispute).facts
    assert fact == DisputeFact(
        provider_dispute_id=dispute["id"],
        provider_payment_id="pi_1",
        amount=4900,
        currency="eur",
        reason="fraudulent",
        status=status,
        provider_charge_id="ch_1",
        metadata={},
    )


def test_a_dispute_of_a_charge_without_a_payment_intent_names_only_the_charge() -> None:
    [fact] = parse("charge.dispute.created", example("dispute")).facts
    assert isinstance(fact, DisputeFact)
    assert (fact.provider_payment_id, fact.provider_charge_id) == (
        None,
        "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    )
    assert (fact.status, fact.reason, fact.currency) == ("needs_response", "general", "usd")
