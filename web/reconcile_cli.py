"""`payments reconcile`: re-read what we know from the providers and repair what differs.

A progress bar (rich, on stderr, only on a terminal) while it runs; then the summary on
stdout (`checked`, `changed`, `missing at provider`, `errors`) and one line per object that
is missing at its provider or could not be read. Exit 0, or 1 when some could not be read
(run it again: what it could not do then is done next time).
"""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.config import Settings
from core.errors import ApiError, ConfigurationError
from core.plugins import build_plugin_manager, load_registry
from core.reconcile.objects import Scope
from core.reconcile.reads import Checked
from core.reconcile.run import Report, count_known, reconcile
from core.store import db


async def _run(settings: Settings, scope: Scope, dry_run: bool) -> Report:
    registry = load_registry(settings, build_plugin_manager())
    await db.connect(settings.database_url)
    await registry.start()
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[tally]}"),
        console=console,
        disable=not console.is_terminal,
    )
    try:
        total = await count_known(scope)
        changed = 0
        with progress:
            task = progress.add_task("dry run" if dry_run else "reconcile", total=total, tally="")

            def checked(result: Checked) -> None:
                nonlocal changed
                changed += result.outcome == "changed"
                progress.update(task, advance=1, tally=f"{changed} changed")

            return await reconcile(
                registry,
                scope,
                dry_run=dry_run,
                concurrency=settings.reconcile_concurrency,
                on_checked=checked,
            )
    finally:
        await registry.close()
        await db.close()


@click.command(name="reconcile")
@click.option("--provider", "provider_key", default=None, help="Only this provider key.")
@click.option("--consumer", "consumer_key", default=None, help="Only this consumer key.")
@click.option("--tenant", "consumer_tenant_id", default=None, help="Only this tenant id.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
def reconcile_command(
    provider_key: str | None,
    consumer_key: str | None,
    consumer_tenant_id: str | None,
    dry_run: bool,
) -> None:
    """Re-read every subscription, open checkout session and non-final purchase (or one
    tenant's) from its provider and apply what differs, as the lost webhooks would have."""
    scope = Scope(provider_key, consumer_key, consumer_tenant_id)
    try:
        settings = Settings.from_env()
        if provider_key is not None:
            load_registry(settings, build_plugin_manager()).provider(provider_key)
        report = asyncio.run(_run(settings, scope, dry_run))
    except (ConfigurationError, ApiError) as error:
        click.echo(f"payments: error: {getattr(error, 'message', None) or error}", err=True)
        sys.exit(2)
    prefix = "would change" if dry_run else "changed"
    click.echo(
        f"payments reconcile: {report.summary().replace('changed', prefix, 1)}"
        + (" (dry run: nothing was changed)" if dry_run else "")
    )
    for label in report.missing:
        click.echo(f"  missing at provider: {label}")
    for label, why in report.errors:
        click.echo(f"  error: {label}: {why}")
    sys.exit(0 if report.ok else 1)
