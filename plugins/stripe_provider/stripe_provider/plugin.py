"""Registers the `stripe` provider plugin with platform-payments."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.providers import ProviderPlugin
from stripe_provider.provider import StripeProvider, StripeSettings


@hookimpl
def register_providers() -> list[ProviderPlugin]:
    return [
        ProviderPlugin(
            name="stripe",
            display_name="Stripe",
            settings=StripeSettings,
            build=StripeProvider.build,
        )
    ]
