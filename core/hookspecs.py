"""The hooks a platform-payments plugin can implement.

A plugin is any module or object with functions marked `@hookimpl` whose names match
these specifications, registered under the `platform_payments` entry-point group:

    [project.entry-points.platform_payments]
    stripe = "stripe_provider.plugin"

None of these hooks is `firstresult`. Each one gathers contributions from every plugin
(all providers, all consumers, all commands, all routes), and `firstresult` would let the
first plugin to answer silence the others, which is exactly what a registry must not do.
Where one answer is needed (which plugin serves provider key `stripe`), `plugins.toml`
decides, not the order in which pluggy happens to call plugins.

Hook functions may accept a subset of the arguments named here, as pluggy allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    from quart import Blueprint

    from core.consumers import ConsumerPlugin
    from core.providers import ProviderPlugin

PROJECT_NAME = "platform_payments"
"""The pluggy project name and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers() -> list[ProviderPlugin]:
    """Return the payment provider plugins this distribution offers.

    Each `ProviderPlugin` has a `name` that `plugins.toml` refers to (`plugin = "stripe"`),
    a pydantic settings model, and a factory building one `PaymentProvider` per configured
    provider key, so two accounts of one provider can run side by side. Two plugins
    registering the same name stop startup.
    """
    raise NotImplementedError


@hookspec
def register_consumers() -> list[ConsumerPlugin]:
    """Return the event consumer plugins this distribution offers.

    Each `ConsumerPlugin` builds one `EventConsumer` per consumer key that `plugins.toml`
    maps to it; the consumer sends one normalized event to its product backend.
    """
    raise NotImplementedError


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the `payments` command line (for example a one-time import).

    Called once while the CLI is built; add commands with `@cli.command()`.
    """


@hookspec
def register_routes() -> list[Blueprint]:
    """Return Quart blueprints to mount in the web app (for example a hosted checkout page).

    Routes under `/internal/` are guarded by the internal token like the host's own.
    """
    raise NotImplementedError
