"""`payments import funnel-billing`: the click command around the run loop.

Exit status: 0 when every row was imported (or was already), 1 when any row was
skipped (each is listed, with why), 2 on bad input or configuration (one line), 3 when
a batch failed unexpectedly and the run stopped (one line; re-running resumes).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import ConfigurationError
from funnel_consumer.importer.options import DEFAULT_BATCH_SIZE, NAME, ImportOptions

if TYPE_CHECKING:
    from core.config import Settings
    from funnel_consumer.importer.tally import ImportReport

EXIT_ROWS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3


async def _run(options: ImportOptions, settings: Settings) -> ImportReport:
    from core.store import db
    from funnel_consumer.importer.display import ProgressBar
    from funnel_consumer.importer.run import run_import

    await db.connect(settings.database_url)
    try:
        return await run_import(options, ProgressBar("dry run" if options.dry_run else "import"))
    finally:
        await db.close()


@click.command(name=NAME)
@click.option(
    "--source",
    required=True,
    help="The legacy billing database: postgres://user:pass@host/db or sqlite://PATH.",
)
@click.option("--dry-run", is_flag=True, help="Write nothing; print what a real run would do.")
@click.option(
    "--emit-events",
    is_flag=True,
    help="Send normalized events to consumers for the changes (default: records only).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the closing summary, with every skipped row, to this JSON file.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Tenants per batch (each batch commits in one transaction).",
)
def funnel_billing(
    source: str, dry_run: bool, emit_events: bool, report: Path | None, batch_size: int
) -> None:
    """Import FunnelAI's legacy billing tables (re-runnable; see docs/backfill.md)."""
    # Imported here, not at the top: every `payments` command builds this one.
    from core.config import Settings
    from funnel_consumer.importer.run import ImportStopped

    options = ImportOptions(
        source_url=source, dry_run=dry_run, emit_events=emit_events, batch_size=batch_size
    )
    try:
        settings = Settings.from_env()
        result = asyncio.run(_run(options, settings))
    except ConfigurationError as error:
        click.echo(f"payments: error: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ImportStopped as error:
        click.echo(f"payments: import stopped: {error}", err=True)
        sys.exit(EXIT_STOPPED)
    for line in result.summary_lines():
        click.echo(line)
    if report is not None:
        try:
            report.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        except OSError as error:
            click.echo(f"payments: error: cannot write the report {report}: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    if result.failed:
        click.echo(
            f"payments: {len(result.tally.skipped)} row(s) were not imported (listed above)",
            err=True,
        )
        sys.exit(EXIT_ROWS_FAILED)


def add_to(cli: click.Group) -> None:
    """Put `funnel-billing` under the `import` group, creating the group if no plugin has."""
    group = cli.commands.get("import")
    if group is None:
        group = click.Group("import", help="One-time imports of products' legacy data.")
        cli.add_command(group)
    if not isinstance(group, click.Group):
        raise ConfigurationError("another plugin added an `import` command that is not a group")
    group.add_command(funnel_billing)
