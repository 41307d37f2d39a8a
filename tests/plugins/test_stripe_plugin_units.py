"""Small rules of the Stripe plugin: the pinned API version, keys, retries, error text."""

from __future__ import annotations

import stripe
from stripe._api_version import _ApiVersion
from stripe_provider import idempotency
from stripe_provider.client import STRIPE_API_VERSION, retry_delay, retryable
from stripe_provider.errors import provider_error, scrub
from stripe_provider.objects import payment_status
from stripe_provider.settings import StripeSettings

from core.providers import CheckoutItem


def test_the_pinned_api_version_is_the_one_the_sdk_was_generated_for() -> None:
    # Upgrading stripe-python moves this on purpose: read the changelog, then the pin.
    assert STRIPE_API_VERSION == _ApiVersion.CURRENT


def test_webhook_secrets_are_comma_separated_and_blank_settings_are_unset() -> None:
    settings = StripeSettings.model_validate(
        {"webhook_secrets": " whsec_a , whsec_b,, ", "secret_key": " ", "api_base": ""}
    )
    assert settings.webhook_secrets == ["whsec_a", "whsec_b"]
    assert settings.secret_key is None
    assert settings.api_base is None


def test_customer_keys_are_deterministic_per_provider_consumer_and_tenant() -> None:
    key = idempotency.customer_key("stripe", "funnel", "tenant_1")
    assert key == idempotency.customer_key("stripe", "funnel", "tenant_1")
    assert key.startswith("platform-payments:customer:")
    assert len(key) <= 255
    others = {
        idempotency.customer_key("stripe_eu", "funnel", "tenant_1"),
        idempotency.customer_key("stripe", "csm", "tenant_1"),
        idempotency.customer_key("stripe", "funnel", "tenant_2"),
        # The separator keeps ("a_b", "c") and ("a", "b_c") apart.
        idempotency.customer_key("stripe", "funnel_tenant", "1"),
    }
    assert key not in others
    assert len(others) == 4


def _item(**changes: object) -> CheckoutItem:
    values: dict[str, object] = {
        "code": "starter_month",
        "name": "Starter",
        "description": None,
        "kind": "recurring",
        "unit_amount": 1900,
        "currency": "eur",
        "interval": "month",
        "interval_count": 1,
        "trial_days": 0,
        "provider_price_id": None,
        "provider_product_id": None,
    }
    values.update(changes)
    return CheckoutItem(**values)  # type: ignore[arg-type]


def test_a_new_amount_or_interval_is_a_new_price_key() -> None:
    base = idempotency.price_key(idempotency.price_version("stripe", _item()))
    assert base == idempotency.price_key(idempotency.price_version("stripe", _item(name="New")))
    for change in (
        {"unit_amount": 2900},
        {"currency": "usd"},
        {"interval": "year"},
        {"interval_count": 3},
    ):
        assert idempotency.price_key(idempotency.price_version("stripe", _item(**change))) != base


def test_connection_failures_and_429_are_retried_but_not_timeouts_or_500s() -> None:
    dropped = stripe.APIConnectionError("connection reset", should_retry=True)
    timed_out = stripe.APIConnectionError("timed out", should_retry=True)
    timed_out.__cause__ = TimeoutError()
    assert retryable(dropped)
    assert not retryable(timed_out)
    assert retryable(stripe.RateLimitError("slow down", http_status=429))
    assert retryable(stripe.APIError("in flight", http_status=409))
    assert not retryable(stripe.APIError("boom", http_status=500))
    assert not retryable(stripe.CardError("declined", None, "card_declined", http_status=402))


def test_the_backoff_doubles_with_jitter_and_is_capped() -> None:
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (10, 8.0)):
        delay = retry_delay(attempt, 0.5)
        assert ceiling / 2 <= delay <= ceiling


def test_keys_are_blanked_out_of_messages() -> None:
    said = "Invalid API Key provided: sk_test_abc123 (also rk_live_Zz9 and whsec_q1)"
    assert scrub(said) == "Invalid API Key provided: [redacted] (also [redacted] and [redacted])"


def test_a_stripe_error_without_a_message_gets_a_plain_one() -> None:
    error = stripe.APIError("Invalid response object from API: '<html>'", http_status=500)
    mapped = provider_error(error, "stripe")
    assert mapped.status_code == 502
    assert mapped.code == "provider_error"
    assert mapped.message == "Stripe answered HTTP 500 without a message"


def test_an_authentication_error_never_echoes_the_key() -> None:
    error = stripe.AuthenticationError(
        "Invalid API Key provided: sk_test_****1234",
        http_status=401,
        json_body={"error": {"message": "Invalid API Key provided: sk_test_****1234"}},
    )
    mapped = provider_error(error, "stripe")
    assert "sk_" not in mapped.message
    assert "secret key of provider 'stripe'" in mapped.message


def test_payment_intent_statuses() -> None:
    assert payment_status("succeeded") == "paid"
    assert payment_status("requires_payment_method") == "failed"
    assert payment_status("canceled") == "failed"
    for pending in ("processing", "requires_action", "requires_confirmation", "requires_capture"):
        assert payment_status(pending) == "pending"
