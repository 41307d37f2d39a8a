"""POST /internal/payments/checkout-sessions against the stand-in Stripe, through HTTP.

The real stripe SDK talks to the stand-in, which checks every request against Stripe's
OpenAPI description; the `stripe_standin` fixture fails a test that sent anything
Stripe's schema refuses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from stripe_provider.client import STRIPE_API_VERSION

from core.models import CheckoutSession, PricingItemProviderPrice, ProviderCustomer
from tests.support.api import Api
from tests.support.stripe_standin import StripeStandIn
from tests.support.stripe_standin.plugins_toml import stripe_plugins

pytest_plugins = ["tests.support.stripe_standin.pytest_fixtures"]

SESSIONS = "/internal/payments/checkout-sessions"
ITEMS = "/internal/payments/pricing-items"
SUCCESS = "http://funnel.cs.lvh.me:8080/#/pricing/complete?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://funnel.cs.lvh.me:8080/#/pricing?checkout=cancel"
TENANT_METADATA = {
    "consumerKey": "funnel",
    "consumerTenantId": "tenant_123",
    "pricingItemCode": "starter_month",
}


def checkout_body(**overrides: Any) -> dict[str, Any]:
    """The contract's example request."""
    body: dict[str, Any] = {
        "providerKey": "stripe",
        "pricingItemCode": "starter_month",
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_123",
        "tenantName": "Demo",
        "legalName": "Demo SRL",
        "billingEmail": "billing@example.test",
        "successUrl": SUCCESS,
        "cancelUrl": CANCEL,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def add_item(
    api: Api,
    standin: StripeStandIn,
    code: str = "starter_month",
    *,
    kind: str = "recurring",
    price_id: str | None = "price_starter_month",
    **fields: Any,
) -> dict[str, Any]:
    """A pricing item; with `price_id`, a Stripe price that exists at the stand-in."""
    body: dict[str, Any] = {
        "code": code,
        "name": code.replace("_", " ").title(),
        "kind": kind,
        "unitAmount": 1900 if kind == "recurring" else 4900,
        "currency": "eur",
        **({"interval": "month"} if kind == "recurring" else {}),
        **fields,
    }
    if price_id:
        standin.add_price(price_id, body["unitAmount"], "eur", body.get("interval"))
        body["providerPrices"] = [{"providerKey": "stripe", "providerPriceId": price_id}]
    reply = await api.post(ITEMS, json=body)
    assert reply.status == 201, reply.body
    item: dict[str, Any] = reply.body
    return item


async def test_subscription_checkout_sends_stripe_exactly_these_parameters(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin, trialDays=14)

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 201, reply.body
    session = reply.body
    [stored] = stripe_standin.of_type("checkout.session")
    [customer] = stripe_standin.of_type("customer")
    assert session == {
        "id": session["id"],
        "providerKey": "stripe",
        "providerCheckoutSessionId": stored["id"],
        "url": stored["url"],
        "status": "open",
        "mode": "subscription",
        "paymentStatus": "unpaid",
        "pricingItemCode": "starter_month",
        "consumerKey": "funnel",
        "consumerTenantId": "tenant_123",
        "subscriptionId": None,
        "purchaseId": None,
        "expiresAt": session["expiresAt"],
        "createdAt": session["createdAt"],
    }
    assert session["url"].startswith("https://")
    assert session["expiresAt"] is not None

    [customer_call] = stripe_standin.requests_to("post", "/v1/customers")
    assert customer_call.params == {
        "name": "Demo SRL",
        "email": "billing@example.test",
        "metadata": {
            "consumerKey": "funnel",
            "consumerTenantId": "tenant_123",
            "tenantName": "Demo",
            "legalName": "Demo SRL",
        },
    }
    [session_call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert session_call.params == {
        "mode": "subscription",
        "line_items": [{"price": "price_starter_month", "quantity": 1}],
        "customer": customer["id"],
        "client_reference_id": "funnel:tenant_123",
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "metadata": TENANT_METADATA,
        "subscription_data": {"metadata": TENANT_METADATA, "trial_period_days": 14},
    }
    for call in (customer_call, session_call):
        assert call.stripe_version == STRIPE_API_VERSION
        assert call.idempotency_key is not None
        assert call.idempotency_key.startswith("platform-payments:")
    row = await CheckoutSession.get(provider_checkout_session_id=stored["id"])
    assert (row.consumer_key, row.consumer_tenant_id, row.status) == (
        "funnel",
        "tenant_123",
        "open",
    )
    assert row.provider_customer_id == customer["id"]


async def test_one_time_checkout_is_payment_mode_with_metadata_on_the_payment(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin, "lifetime_addon", kind="one_time", price_id="price_life")

    reply = await api.post(SESSIONS, json=checkout_body(pricingItemCode="lifetime_addon"))

    assert reply.status == 201, reply.body
    assert reply.body["mode"] == "payment"
    [call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    metadata = {**TENANT_METADATA, "pricingItemCode": "lifetime_addon"}
    assert call.params["mode"] == "payment"
    assert call.params["line_items"] == [{"price": "price_life", "quantity": 1}]
    assert call.params["metadata"] == metadata
    assert call.params["payment_intent_data"] == {"metadata": metadata}
    assert "subscription_data" not in call.params


async def test_no_trial_is_sent_for_an_item_without_trial_days(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    assert (await api.post(SESSIONS, json=checkout_body())).status == 201
    [call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert call.params["subscription_data"] == {"metadata": TENANT_METADATA}


async def test_the_session_id_placeholder_reaches_stripe_intact(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    url = "https://app.example.test/done?session_id={CHECKOUT_SESSION_ID}&x=a%20b#frag"

    reply = await api.post(SESSIONS, json=checkout_body(successUrl=url))

    assert reply.status == 201
    [call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert call.params["success_url"] == url
    assert "{CHECKOUT_SESSION_ID}" in call.params["success_url"]
    row = await CheckoutSession.get(id=reply.body["id"])
    assert row.success_url == url


async def test_the_default_provider_is_used_without_a_provider_key(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    reply = await api.post(SESSIONS, json=checkout_body(providerKey=None))
    assert reply.status == 201
    assert reply.body["providerKey"] == "stripe"


async def test_a_tenants_customer_is_created_once_and_reused(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    await add_item(api, stripe_standin, "lifetime_addon", kind="one_time", price_id="price_life")

    first = await api.post(SESSIONS, json=checkout_body())
    second = await api.post(SESSIONS, json=checkout_body(pricingItemCode="lifetime_addon"))
    other_tenant = await api.post(SESSIONS, json=checkout_body(consumerTenantId="tenant_456"))

    assert first.status == second.status == other_tenant.status == 201
    assert len(stripe_standin.requests_to("post", "/v1/customers")) == 2
    customers = {
        c["metadata"]["consumerTenantId"]: c["id"] for c in stripe_standin.of_type("customer")
    }
    calls = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert [c.params["customer"] for c in calls] == [
        customers["tenant_123"],
        customers["tenant_123"],
        customers["tenant_456"],
    ]
    assert await ProviderCustomer.filter(consumer_tenant_id="tenant_123").count() == 1


async def test_concurrent_checkouts_of_one_tenant_end_with_one_customer(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)

    replies = await asyncio.gather(*(api.post(SESSIONS, json=checkout_body()) for _ in range(4)))

    assert [r.status for r in replies] == [201] * 4
    assert len(stripe_standin.of_type("customer")) == 1
    assert await ProviderCustomer.all().count() == 1
    # No caller key: four requests are four logical checkouts, hence four sessions.
    assert len(stripe_standin.of_type("checkout.session")) == 4
    assert await CheckoutSession.all().count() == 4


async def test_a_dropped_connection_is_retried_under_the_same_key(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/customers", "drop")
    stripe_standin.inject("post", "/v1/checkout/sessions", "drop")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 201, reply.body
    assert len(stripe_standin.of_type("customer")) == 1
    assert len(stripe_standin.of_type("checkout.session")) == 1
    for path in ("/v1/customers", "/v1/checkout/sessions"):
        first, retry = stripe_standin.requests_to("post", path)
        assert first.injected == "drop"
        assert retry.idempotency_key == first.idempotency_key
        assert retry.replayed
    assert (
        reply.body["providerCheckoutSessionId"]
        == stripe_standin.of_type("checkout.session")[0]["id"]
    )
    assert await CheckoutSession.all().count() == 1


async def test_a_rate_limited_request_is_retried(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "rate_limit")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 201
    first, retry = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert (first.status, retry.status) == (429, 200)
    assert first.idempotency_key == retry.idempotency_key


async def test_the_callers_idempotency_key_replays_the_first_answer(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    headers = {"Idempotency-Key": "order-42"}

    first = await api.post(SESSIONS, json=checkout_body(), headers=headers)
    again = await api.post(SESSIONS, json=checkout_body(), headers=headers)
    other_body = await api.post(
        SESSIONS, json=checkout_body(consumerTenantId="tenant_999"), headers=headers
    )

    assert first.status == again.status == 201
    assert again.body == first.body
    assert other_body.status == 409
    assert other_body.body["code"] == "idempotency_key_reused"
    assert len(stripe_standin.requests_to("post", "/v1/checkout/sessions")) == 1
    assert await CheckoutSession.all().count() == 1


async def test_a_callers_retry_after_a_lost_answer_gets_the_same_session(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    """Stripe made the session but every answer was lost: the caller's retry with its
    Idempotency-Key reaches Stripe with the same key and gets that very session."""
    api = await checkout_app(max_network_retries=1)
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "drop", times=2)
    headers = {"Idempotency-Key": "order-43"}

    lost = await api.post(SESSIONS, json=checkout_body(), headers=headers)
    assert lost.status == 502
    assert lost.body["code"] == "provider_error"
    assert await CheckoutSession.all().count() == 0

    retried = await api.post(SESSIONS, json=checkout_body(), headers=headers)

    assert retried.status == 201
    [made] = stripe_standin.of_type("checkout.session")
    assert retried.body["providerCheckoutSessionId"] == made["id"]
    assert (
        len(
            {r.idempotency_key for r in stripe_standin.requests_to("post", "/v1/checkout/sessions")}
        )
        == 1
    )
    assert await CheckoutSession.all().count() == 1


async def _assert_nothing_stored() -> None:
    assert await CheckoutSession.all().count() == 0


async def test_a_card_error_is_a_502_with_stripes_message(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "card_error")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 502
    assert reply.body == {
        "statusCode": 502,
        "error": "Bad Gateway",
        "message": "Your card was declined.",
        "code": "provider_error",
    }
    await _assert_nothing_stored()


async def test_a_stripe_500_is_a_502_and_is_not_retried(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "server_error")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 502
    assert reply.body["code"] == "provider_error"
    assert reply.body["message"] == "Something went wrong on Stripe's end."
    assert len(stripe_standin.requests_to("post", "/v1/checkout/sessions")) == 1
    await _assert_nothing_stored()


async def test_a_stripe_that_does_not_answer_in_time_is_a_502(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(request_timeout=0.2)
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "slow")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 502
    assert reply.body["code"] == "provider_error"
    assert "did not answer in time" in reply.body["message"]
    await _assert_nothing_stored()


async def test_a_refused_secret_key_is_never_echoed(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(secret_key="rk_test_not_a_secret_key_1234")
    await add_item(api, stripe_standin)

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 502
    assert reply.body["code"] == "provider_error"
    assert "refused the secret key of provider 'stripe'" in reply.body["message"]
    assert "rk_test" not in reply.raw.decode()
    await _assert_nothing_stored()


async def test_an_unknown_item_is_404(checkout_app, stripe_standin: StripeStandIn) -> None:
    api = await checkout_app()
    reply = await api.post(SESSIONS, json=checkout_body(pricingItemCode="gold"))
    assert reply.status == 404
    assert reply.body["code"] == "pricing_item_not_found"
    assert stripe_standin.requests == []


async def test_inactive_and_archived_items_are_unavailable(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin, "paused_plan", price_id="price_paused", active=False)
    await add_item(api, stripe_standin, "old_plan", price_id="price_old")
    assert (await api.delete(f"{ITEMS}/old_plan")).status == 204

    for code, state in (("paused_plan", "inactive"), ("old_plan", "archived")):
        reply = await api.post(SESSIONS, json=checkout_body(pricingItemCode=code))
        assert reply.status == 422
        assert reply.body["code"] == "pricing_item_unavailable"
        assert state in reply.body["message"]
    assert stripe_standin.requests == []
    await _assert_nothing_stored()


async def test_an_unknown_provider_key_is_404(checkout_app, stripe_standin: StripeStandIn) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    reply = await api.post(SESSIONS, json=checkout_body(providerKey="paypal"))
    assert reply.status == 404
    assert reply.body["code"] == "provider_not_found"


async def test_a_provider_without_a_secret_key_is_503(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(secret_key=None)
    await add_item(api, stripe_standin)
    reply = await api.post(SESSIONS, json=checkout_body())
    assert reply.status == 503
    assert reply.body["code"] == "provider_not_configured"
    assert stripe_standin.requests == []


async def test_an_item_without_a_stripe_price_needs_price_sync(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin, price_id=None)
    reply = await api.post(SESSIONS, json=checkout_body())
    assert reply.status == 422
    assert reply.body["code"] == "provider_price_missing"
    assert stripe_standin.requests == []


async def test_price_sync_creates_a_product_and_price_once(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(price_sync=True)
    await add_item(api, stripe_standin, price_id=None, intervalCount=3, description="Quarterly")

    first = await api.post(SESSIONS, json=checkout_body())
    second = await api.post(SESSIONS, json=checkout_body())

    assert first.status == second.status == 201
    [product] = stripe_standin.requests_to("post", "/v1/products")
    [price] = stripe_standin.requests_to("post", "/v1/prices")
    assert product.params == {
        "name": "Starter Month",
        "description": "Quarterly",
        "metadata": {"pricingItemCode": "starter_month"},
    }
    [made_product] = stripe_standin.of_type("product")
    assert price.params == {
        "product": made_product["id"],
        "unit_amount": 1900,
        "currency": "eur",
        "recurring": {"interval": "month", "interval_count": 3},
        "metadata": {"pricingItemCode": "starter_month"},
    }
    [made_price] = stripe_standin.of_type("price")
    stored = await PricingItemProviderPrice.get(provider_key="stripe")
    assert (stored.provider_price_id, stored.provider_product_id) == (
        made_price["id"],
        made_product["id"],
    )
    sessions = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert [s.params["line_items"][0]["price"] for s in sessions] == [made_price["id"]] * 2
    listed = await api.get(ITEMS)
    [item] = listed.body["data"]
    assert item["providerPrices"] == [
        {
            "providerKey": "stripe",
            "providerPriceId": made_price["id"],
            "providerProductId": made_product["id"],
        }
    ]


async def test_price_sync_of_a_one_time_item_makes_a_one_time_price(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(price_sync=True)
    await add_item(api, stripe_standin, "lifetime_addon", kind="one_time", price_id=None)
    reply = await api.post(SESSIONS, json=checkout_body(pricingItemCode="lifetime_addon"))
    assert reply.status == 201
    [price] = stripe_standin.requests_to("post", "/v1/prices")
    assert "recurring" not in price.params
    assert price.params["unit_amount"] == 4900


async def test_invalid_requests_are_400_and_change_nothing(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    cases: list[tuple[dict[str, Any], str]] = [
        ({k: v for k, v in checkout_body().items() if k != "pricingItemCode"}, "pricingItemCode"),
        ({k: v for k, v in checkout_body().items() if k != "successUrl"}, "successUrl"),
        ({k: v for k, v in checkout_body().items() if k != "consumerTenantId"}, "consumerTenantId"),
        (checkout_body(successUrl="not a url"), "successUrl"),
        (checkout_body(cancelUrl="ftp://example.test/x"), "cancelUrl"),
        (checkout_body(successUrl="/relative/path"), "successUrl"),
        (checkout_body(billingEmail="nope"), "billingEmail"),
        (checkout_body(consumerTenantId=""), "consumerTenantId"),
        (checkout_body(consumerTenantId=123), "consumerTenantId"),
        (checkout_body(consumerTenantId="x" * 129), "consumerTenantId"),
    ]
    for body, field in cases:
        reply = await api.post(SESSIONS, json=body)
        assert reply.status == 400, (field, reply.body)
        assert reply.body["code"] == "validation_failed"
        assert field in [d["field"] for d in reply.body["details"]], reply.body
    not_json = await api.post(SESSIONS, data="{", headers={"Content-Type": "application/json"})
    assert not_json.status == 400
    assert stripe_standin.requests == []
    await _assert_nothing_stored()
    assert await ProviderCustomer.all().count() == 0


async def test_the_internal_token_is_required(checkout_app, stripe_standin: StripeStandIn) -> None:
    api = await checkout_app()
    assert (await api.post(SESSIONS, json=checkout_body(), token=None)).status == 401
    assert (await api.get(f"{SESSIONS}/cs_test_x", token=None)).status == 401


async def test_a_second_stripe_account_has_its_own_customers(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    plugins = stripe_plugins(stripe_standin) + stripe_plugins(
        stripe_standin, "stripe_eu", consumers=()
    ).replace("default = true\n", "")
    api = await checkout_app(plugins)
    await add_item(api, stripe_standin, price_id=None)
    stripe_standin.add_price("price_us", 1900, "eur", "month")
    stripe_standin.add_price("price_eu", 1900, "eur", "month")
    patched = await api.patch(
        f"{ITEMS}/starter_month",
        json={
            "providerPrices": [
                {"providerKey": "stripe", "providerPriceId": "price_us"},
                {"providerKey": "stripe_eu", "providerPriceId": "price_eu"},
            ]
        },
    )
    assert patched.status == 200, patched.body

    us = await api.post(SESSIONS, json=checkout_body())
    eu = await api.post(SESSIONS, json=checkout_body(providerKey="stripe_eu"))

    assert (us.status, eu.status) == (201, 201)
    assert eu.body["providerKey"] == "stripe_eu"
    assert len(stripe_standin.of_type("customer")) == 2
    assert await ProviderCustomer.filter(consumer_tenant_id="tenant_123").count() == 2


async def test_concurrent_requests_with_one_idempotency_key_make_one_session(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    headers = {"Idempotency-Key": "order-44"}

    replies = await asyncio.gather(
        *(api.post(SESSIONS, json=checkout_body(), headers=headers) for _ in range(3))
    )

    assert [r.status for r in replies] == [201] * 3
    assert replies[1].body == replies[0].body == replies[2].body
    assert len(stripe_standin.of_type("checkout.session")) == 1
    assert await CheckoutSession.all().count() == 1


async def test_concurrent_first_checkouts_of_an_unpriced_item_sync_one_price(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(price_sync=True)
    await add_item(api, stripe_standin, price_id=None)

    replies = await asyncio.gather(*(api.post(SESSIONS, json=checkout_body()) for _ in range(3)))

    assert [r.status for r in replies] == [201] * 3
    assert len(stripe_standin.of_type("product")) == 1
    assert len(stripe_standin.of_type("price")) == 1
    assert await PricingItemProviderPrice.all().count() == 1


async def test_the_environment_aims_the_default_plugins_file_at_the_stand_in(
    make_app, stripe_standin: StripeStandIn
) -> None:
    """The shipped plugins.toml shape: STRIPE_SECRET_KEY and STRIPE_API_BASE from the env."""
    app = await make_app(STRIPE_SECRET_KEY="sk_test_from_env", STRIPE_API_BASE=stripe_standin.url)
    api = Api(app, "test-internal-token")
    await add_item(api, stripe_standin)

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 201, reply.body
    [call] = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert call.params["success_url"] == SUCCESS


async def test_a_customer_whose_creation_answer_was_lost_is_found_again(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    """Stripe made the customer but we never heard back: the next checkout replays it."""
    api = await checkout_app(max_network_retries=1)
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/customers", "drop", times=2)

    lost = await api.post(SESSIONS, json=checkout_body())
    assert lost.status == 502
    assert await ProviderCustomer.all().count() == 0

    again = await api.post(SESSIONS, json=checkout_body())

    assert again.status == 201
    [customer] = stripe_standin.of_type("customer")
    assert (await ProviderCustomer.get()).provider_customer_id == customer["id"]


async def test_a_lost_customer_then_changed_details_still_checks_out(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    """Stripe refuses the tenant's key with other details; a key covering them is used."""
    api = await checkout_app(max_network_retries=1)
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/customers", "drop", times=2)
    assert (await api.post(SESSIONS, json=checkout_body())).status == 502

    renamed = await api.post(SESSIONS, json=checkout_body(legalName="Demo Holding SRL"))

    assert renamed.status == 201, renamed.body
    refused, created = stripe_standin.requests_to("post", "/v1/customers")[-2:]
    assert refused.status == 400
    assert created.params["name"] == "Demo Holding SRL"
    assert created.idempotency_key != refused.idempotency_key
    stored = await ProviderCustomer.get()
    assert stored.provider_customer_id == stripe_standin.of_type("customer")[-1]["id"]


async def test_an_answer_cut_off_mid_body_is_retried_under_the_same_key(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "cut")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 201, reply.body
    first, retry = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert first.injected == "cut"
    assert retry.replayed
    assert len(stripe_standin.of_type("checkout.session")) == 1


async def test_an_answer_always_cut_off_is_a_502_not_a_500(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app(max_network_retries=0)
    await add_item(api, stripe_standin)
    stripe_standin.inject("post", "/v1/checkout/sessions", "cut")

    reply = await api.post(SESSIONS, json=checkout_body())

    assert reply.status == 502
    assert reply.body["code"] == "provider_error"
    assert await CheckoutSession.all().count() == 0


async def test_a_customer_deleted_at_stripe_is_replaced_once(
    checkout_app, stripe_standin: StripeStandIn
) -> None:
    api = await checkout_app()
    await add_item(api, stripe_standin)
    assert (await api.post(SESSIONS, json=checkout_body())).status == 201
    [gone] = stripe_standin.of_type("customer")
    stripe_standin.delete_customer(gone["id"])

    replaced = await api.post(SESSIONS, json=checkout_body())
    reused = await api.post(SESSIONS, json=checkout_body())

    assert replaced.status == reused.status == 201, replaced.body
    [replacement] = stripe_standin.of_type("customer")
    assert replacement["id"] != gone["id"]
    stored = await ProviderCustomer.get()
    assert stored.provider_customer_id == replacement["id"]
    calls = stripe_standin.requests_to("post", "/v1/checkout/sessions")
    assert [c.params["customer"] for c in calls] == [
        gone["id"],
        gone["id"],
        replacement["id"],
        replacement["id"],
    ]
    assert calls[1].status == 404
    assert len(stripe_standin.requests_to("post", "/v1/customers")) == 2
    row = await CheckoutSession.get(id=reused.body["id"])
    assert row.provider_customer_id == replacement["id"]
