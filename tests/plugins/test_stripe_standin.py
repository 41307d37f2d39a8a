"""The stand-in Stripe itself: its schema check is real, so the checkout tests mean something."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.stripe_standin import StripeStandIn
from tests.support.stripe_standin.forms import coerce, decode
from tests.support.stripe_standin.spec import spec


def _session_schema() -> dict[str, Any]:
    operation = spec().operation("post", "/v1/checkout/sessions")
    assert operation is not None and operation.body_schema is not None
    return operation.body_schema


def test_form_encoding_decodes_into_typed_nested_values() -> None:
    raw = (
        "mode=subscription&line_items[0][price]=price_1&line_items[0][quantity]=1"
        "&metadata[consumerTenantId]=123&subscription_data[trial_period_days]=14"
        "&success_url=https%3A%2F%2Fa.test%2F%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
    )
    params = coerce(decode(raw), _session_schema(), spec())
    assert params == {
        "mode": "subscription",
        "line_items": [{"price": "price_1", "quantity": 1}],
        "metadata": {"consumerTenantId": "123"},
        "subscription_data": {"trial_period_days": 14},
        "success_url": "https://a.test/?s={CHECKOUT_SESSION_ID}",
    }


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"success_url": "https://a.test", "mode": "rent"}, "is not one of"),
        ({"success_url": "https://a.test", "bogus": "1"}, "'bogus' was unexpected"),
        ({"success_url": "https://a.test", "line_items": [{"quantity": "one"}]}, "not of type"),
        ({"success_url": "https://a.test", "metadata": {"a": {"b": "c"}}}, "not of type"),
    ],
)
def test_parameters_stripe_does_not_know_are_refused(params: dict[str, Any], problem: str) -> None:
    operation = spec().operation("post", "/v1/checkout/sessions")
    assert operation is not None
    problems = operation.validate(params)
    assert any(problem in line for line in problems), problems


async def test_an_invalid_request_through_the_sdk_is_a_400_and_recorded() -> None:
    standin = await StripeStandIn().start()
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": standin.url}, http_client=http, max_network_retries=0
    )
    try:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await client.v1.checkout.sessions.create_async(
                {"success_url": "https://a.test", "mode": "rent"}
            )
        assert refused.value.http_status == 400
        [recorded] = standin.invalid
        assert recorded.path == "/v1/checkout/sessions"
        assert "mode" in recorded.problems[0]
    finally:
        await http.close_async()
        await standin.stop()


async def test_a_reused_idempotency_key_with_other_parameters_is_refused() -> None:
    standin = await StripeStandIn().start()
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": standin.url}, http_client=http, max_network_retries=0
    )
    try:
        first = await client.v1.customers.create_async({"name": "A"}, {"idempotency_key": "k1"})
        again = await client.v1.customers.create_async({"name": "A"}, {"idempotency_key": "k1"})
        assert again.id == first.id
        with pytest.raises(stripe.IdempotencyError):
            await client.v1.customers.create_async({"name": "B"}, {"idempotency_key": "k1"})
        assert len(standin.of_type("customer")) == 1
        assert standin.invalid == []
    finally:
        await http.close_async()
        await standin.stop()
