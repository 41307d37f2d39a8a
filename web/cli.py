"""The `payments` command line: serve, migrate, plugins, and whatever plugins add.

Every command turns bad configuration (unknown plugin, missing secret, unreachable
database) into one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from core import __version__
from core.config import Settings
from core.errors import ConfigurationError
from core.plugins import build_plugin_manager, installed_plugins, load_registry
from core.store import db
from web.server import run as run_loop

F = TypeVar("F", bound=Callable[..., Any])


def clear_errors(command: F) -> F:
    """Print a `ConfigurationError` as one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigurationError as error:
            click.echo(f"payments: error: {error}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="payments")
def cli() -> None:
    """platform-payments: pricing, checkout, provider webhooks and event delivery."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (PAYMENTS_HOST, 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port to listen on (PORT, 3700).")
@click.option(
    "--no-dispatcher",
    is_flag=True,
    help="Do not send event deliveries from this process (PAYMENTS_EMBEDDED_DISPATCHER=false).",
)
@clear_errors
def serve(host: str | None, port: int | None, no_dispatcher: bool) -> None:
    """Serve the HTTP API with Hypercorn (and, by default, the delivery dispatcher)."""
    from hypercorn.asyncio import serve as hypercorn_serve

    from web.app import create_app
    from web.server import hypercorn_config

    settings = Settings.from_env()
    if port is not None:  # one port for the listener and what is built on it (the sandbox's URLs)
        settings = dataclasses.replace(settings, port=port)
    app = create_app(
        settings,
        connect_database=False,
        dispatcher=settings.embedded_dispatcher and not no_dispatcher,
        plan_cache=settings.plan_status_cache,
    )
    config = hypercorn_config(host or settings.host, settings.port)

    async def run() -> None:
        await db.connect(settings.database_url)
        try:
            await hypercorn_serve(app, config)
        finally:
            await db.close()

    run_loop(run())


@cli.command()
@clear_errors
def worker() -> None:
    """Run the delivery dispatcher alone (scale out; SIGTERM/SIGINT stop it cleanly)."""
    from core.worker import run_worker

    run_loop(run_worker(Settings.from_env()))


@cli.command()
@clear_errors
def migrate() -> None:
    """Apply every database migration not yet applied."""
    settings = Settings.from_env()
    applied = asyncio.run(db.migrate(settings.database_url))
    if not applied:
        click.echo("payments: database already up to date (no migration to apply)")
        return
    for name in applied:
        click.echo(f"payments: applied {name}")
    count = f"{len(applied)} migration{'s' if len(applied) != 1 else ''}"
    click.echo(f"payments: database is up to date ({count} applied)")


@cli.command()
@clear_errors
def plugins() -> None:
    """List installed plugins (version, hooks) and the enabled providers and consumers, as JSON."""
    settings = Settings.from_env()
    manager = build_plugin_manager()
    registry = load_registry(settings, manager)
    report = {
        "installed": [
            {
                "name": plugin.name,
                "distribution": plugin.distribution,
                "version": plugin.version,
                "hooks": list(plugin.hooks),
            }
            for plugin in installed_plugins(manager)
        ],
        "providers": [
            {
                "key": provider.key,
                "plugin": provider.plugin_name,
                "default": provider.key == registry.default_provider_key,
                "configured": provider.configured,
            }
            for provider in registry.providers.values()
        ],
        "consumers": [
            {"key": consumer.key, "plugin": consumer.plugin_name, "configured": consumer.configured}
            for consumer in registry.consumers.values()
        ],
    }
    click.echo(json.dumps(report, indent=2))


def build_cli() -> click.Group:
    """The CLI with every plugin's commands added."""
    from web.reconcile_cli import reconcile_command

    cli.add_command(reconcile_command)
    build_plugin_manager().hook.register_commands(cli=cli)
    return cli


def main() -> None:
    try:
        group = build_cli()
    except ConfigurationError as error:
        click.echo(f"payments: error: {error}", err=True)
        sys.exit(2)
    group()
