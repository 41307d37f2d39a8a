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

    Called once per process, when the registry is built at startup (`payments serve`,
    `payments worker`, every command that needs providers), before `plugins.toml` is read.

    :return: a list of `core.providers.ProviderPlugin`. Each has a `name` that `plugins.toml`
        refers to (`plugin = "stripe"`), a pydantic settings model, and a factory building one
        `PaymentProvider` per configured provider key, so two accounts of one provider can run
        side by side. Two plugins registering the same name stop startup. Return an empty list
        (or nothing) to offer none.
    """
    raise NotImplementedError


@hookspec
def register_consumers() -> list[ConsumerPlugin]:
    """Return the event consumer plugins this distribution offers.

    Called once per process, when the registry is built at startup, beside
    `register_providers`.

    :return: a list of `core.consumers.ConsumerPlugin`. Each builds one `EventConsumer` per
        consumer key that `plugins.toml` maps to it; the consumer sends one normalized event to
        its product backend. Two plugins registering the same name stop startup.
    """
    raise NotImplementedError


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the `payments` command line (for example a one-time import).

    Called once, while the `payments` command group is built, before its arguments are
    parsed: a plugin's command appears in `payments --help` like the host's own.

    :param cli: the `payments` click group; add commands with `@cli.command()`.
    :return: nothing; the commands added to `cli` are the contribution.
    """


@hookspec
def register_routes() -> list[Blueprint]:
    """Return Quart blueprints to mount in the web app (for example a hosted checkout page).

    Called once per app, in `web.app.create_app`, after the host's own blueprints are
    registered (a plugin cannot replace a host route).

    :return: a list of Quart blueprints. Routes under `/internal/` are guarded by the internal
        token like the host's own; every other route is public, and answers its own errors
        through the host's JSON error handlers.
    """
    raise NotImplementedError
