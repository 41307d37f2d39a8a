"""plugins.toml text for a Stripe provider key aimed at the stand-in."""

from __future__ import annotations

from typing import Any

from tests.support.stripe_standin.server import StripeStandIn

SECRET_KEY = "sk_test_standin_4242"


def stripe_plugins(
    standin: StripeStandIn,
    provider_key: str = "stripe",
    consumers: tuple[str, ...] = ("funnel",),
    **settings: Any,
) -> str:
    """A plugins.toml with one Stripe provider key aimed at the stand-in, fast retries, and
    the consumers the tests open checkouts for (a checkout for an unconfigured consumer is
    422 `consumer_unknown`); they have no events URL, so their deliveries wait."""
    values: dict[str, Any] = {
        "secret_key": SECRET_KEY,
        "api_base": standin.url,
        "request_timeout": 1.0,
        "retry_initial_delay": 0.01,
        **settings,
    }
    lines = [f"[providers.{provider_key}]", 'plugin = "stripe"', "default = true"]
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int | float):
            rendered = repr(value)
        else:
            rendered = f'"{value}"'
        lines.append(f"{name} = {rendered}")
    for consumer in consumers:
        lines += ["", f"[consumers.{consumer}]", f'plugin = "{consumer}"']
    return "\n".join(lines) + "\n"
