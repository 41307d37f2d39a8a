"""The `payments` command line: serve, migrate, plugins, events replay, and whatever plugins add.

Every command turns bad configuration (unknown plugin, missing secret, unreachable
database) into one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core import __version__
from core.config import Settings
from core.errors import ConfigurationError
from core.logs import (
    configure_logging,
    configured_format,
    log_format,
    log_level,
    register_env_secrets,
)
from core.plugins import Registry, build_plugin_manager, installed_plugins, load_registry
from core.store import db
from web.server import run as run_loop

if TYPE_CHECKING:
    from core.ingest import stored

F = TypeVar("F", bound=Callable[..., Any])


def refuse(error: ConfigurationError) -> None:
    """One line on stderr (a JSON object when logging is JSON) and exit status 2."""
    line = f"payments: error: {error}"
    if configured_format() == "json":
        logging.getLogger("platform_payments").error(line, extra={"event": "config_error"})
    else:
        click.echo(line, err=True)
    sys.exit(2)


def clear_errors(command: F) -> F:
    """Print a `ConfigurationError` as one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigurationError as error:
            refuse(error)

    return wrapper  # type: ignore[return-value]


def ensure_port_free(host: str, port: int) -> None:
    """`ConfigurationError` "port N is in use" when another process listens there (a second
    `payments serve`), before anything starts; binds as Hypercorn does (`SO_REUSEADDR`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(f"port {port} is in use") from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error}") from None


@click.group()
@click.version_option(__version__, prog_name="payments")
def cli() -> None:
    """platform-payments: pricing, checkout, provider webhooks and event delivery."""
    try:
        configure_logging(log_format(os.environ), log_level(os.environ))
    except ConfigurationError as error:
        click.echo(f"payments: error: {error}", err=True)
        sys.exit(2)
    register_env_secrets(os.environ)


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
    bind_host, bind_port = host or settings.host, settings.port
    config = hypercorn_config(bind_host, bind_port)
    ensure_port_free(bind_host, bind_port)

    async def run() -> None:
        await db.connect(settings.database_url)
        try:
            await hypercorn_serve(app, config)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:  # taken between the check and Hypercorn's bind
                raise ConfigurationError(f"port {bind_port} is in use") from None
            raise
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
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    metavar="DAYS",
    help="Prune what is older than this many days.",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@clear_errors
def prune(older_than: float, dry_run: bool) -> None:
    """Delete delivered deliveries and their attempts, expired idempotency keys, and the
    payloads (not the rows) of processed provider events, older than DAYS; in batches."""
    from core.retention import prune as run_prune

    settings = Settings.from_env()

    async def run() -> list[str]:
        await db.connect(settings.database_url)
        try:
            return (await run_prune(older_than, dry_run=dry_run)).lines()
        finally:
            await db.close()

    for line in asyncio.run(run()):
        click.echo(f"payments: {line}")


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


@cli.group()
def events() -> None:
    """Stored provider events."""


class IsoMomentParam(click.ParamType[datetime, Any]):
    """An ISO-8601 moment on the command line (no offset: UTC)."""

    name = "ISO-8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        from web.schemas.common import iso_moment

        try:
            moment = iso_moment(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        assert isinstance(moment, datetime)
        return moment


@events.command(name="replay")
@click.option("--id", "event_id", default=None, help="One stored event, by our id.")
@click.option(
    "--status",
    type=click.Choice(["deferred", "unmatched"]),
    default=None,
    help="Every event in this status.",
)
@click.option(
    "--since", type=IsoMomentParam(), default=None, help="Every event received at or after."
)
@clear_errors
def events_replay(event_id: str | None, status: str | None, since: Any) -> None:
    """Apply stored provider events again through the webhook's path (exactly one of --id,
    --status, --since). Ends with `replayed N: applied A, unchanged U, waiting W, failed F`;
    exit 1 when any failed."""
    from core.ingest import stored

    options = (("--id", event_id), ("--status", status), ("--since", since))
    chosen = [name for name, value in options if value is not None]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --id, --status, --since"
            + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    selection = stored.Selection(id=event_id, status=status, since=since)
    settings = Settings.from_env()
    registry = load_registry(settings, build_plugin_manager())
    tally = asyncio.run(_replay_events(settings, registry, selection))
    for ref, reason in tally.failures:
        click.echo(f"payments: failed {ref}: {reason}", err=True)
    click.echo(tally.summary())
    sys.exit(1 if tally.failed else 0)


async def _replay_events(
    settings: Settings, registry: Registry, selection: stored.Selection
) -> stored.ReplayTally:
    from core.ingest import stored
    from web.progress import ProgressBar

    await db.connect(settings.database_url)
    bar = ProgressBar("replay")
    try:
        await registry.start()
        bar.start(await stored.count_selected(selection))

        def progress(tally: stored.ReplayTally) -> None:
            outcomes = (
                f"{tally.applied} applied, {tally.unchanged} unchanged, "
                f"{tally.waiting} waiting, {tally.failed} failed"
            )
            bar.update(tally.replayed, outcomes)

        return await stored.replay_selected(registry, selection, progress)
    finally:
        bar.stop()
        await registry.close()
        await db.close()


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
        refuse(error)
    group()
