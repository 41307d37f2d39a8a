"""The import's run loop: tenant batches, one transaction each, progress kept for resume.

Each batch's writes and its progress row (the last tenant id done and the running
tally) commit together, so a run that dies resumes after the last committed tenant and
redoes nothing twice. A dry run does the same work in transactions it rolls back: it
writes nothing, not even progress, and reports what a real run would change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.exceptions import OperationalError

from core.errors import ConfigurationError
from core.models import ImportProgress, PricingItem
from core.store.unit_of_work import unit_of_work
from core.timeutil import isoformat, utcnow
from funnel_consumer.importer import rows
from funnel_consumer.importer.display import Display, Silent
from funnel_consumer.importer.options import NAME, ImportOptions
from funnel_consumer.importer.source import TABLES, LegacySource, open_source
from funnel_consumer.importer.tally import ImportReport, Tally
from funnel_consumer.importer.writer import Batch, BatchWriter


class ImportStopped(Exception):
    """A batch failed in a way validation did not foresee: it was rolled back, the run stopped
    (its progress stays at the last committed batch, so the next run resumes there)."""


class _RollBack(Exception):
    """Raised at the end of a dry run's batch so that its transaction rolls back."""


@dataclass
class _State:
    cursor: str
    tally: Tally
    progress: ImportProgress | None
    resumed_after: str | None = None
    last_batch_rows: int = 0
    catalog: dict[str, str] = field(default_factory=dict)


async def run_import(options: ImportOptions, display: Display | None = None) -> ImportReport:
    """Import every tenant of the source (resuming an unfinished run); the closing report."""
    shown = display or Silent()
    started = utcnow()
    source = await open_source(options.source_url)
    try:
        state = await _begin(source, options)
        total = await source.count_rows("")
        shown.start(total, total - await source.count_rows(state.cursor))
        try:
            if state.cursor == "":
                await _report_rows_without_tenant(source, state.tally)
            while await _next_batch(source, state, options):
                shown.advance(state.last_batch_rows, state.tally)
        finally:
            shown.stop()
        if state.progress is not None:
            state.progress.status = "finished"
            state.progress.finished_at = utcnow()
            state.progress.stats = state.tally.to_stats()
            await state.progress.save()
    finally:
        await source.close()
    return ImportReport(
        name=NAME,
        source=source.fingerprint,
        dry_run=options.dry_run,
        emit_events=options.emit_events,
        resumed_after=state.resumed_after,
        started_at=isoformat(started) or "",
        finished_at=isoformat(utcnow()) or "",
        tally=state.tally,
    )


async def _begin(source: LegacySource, options: ImportOptions) -> _State:
    """The catalog, and where to start: after an unfinished run's cursor, else the top."""
    try:
        catalog = {item.code: item.kind for item in await PricingItem.all()}
        if options.dry_run:
            return _State("", Tally(), None, catalog=catalog)
        progress = await ImportProgress.get_or_none(name=NAME, source=source.fingerprint)
    except OperationalError as error:
        raise ConfigurationError(
            f"the payments database is not ready (run `payments migrate`): {error}"
        ) from None
    if progress is not None and progress.status == "running":
        cursor = progress.cursor or ""
        return _State(
            cursor,
            Tally.from_stats(progress.stats),
            progress,
            resumed_after=progress.cursor,
            catalog=catalog,
        )
    tally = Tally()
    if progress is None:
        progress = await ImportProgress.create(
            name=NAME, source=source.fingerprint, status="running", stats=tally.to_stats()
        )
    else:
        progress.status = "running"
        progress.cursor = None
        progress.stats = tally.to_stats()
        progress.started_at = utcnow()
        progress.finished_at = None
        await progress.save()
    return _State("", tally, progress, catalog=catalog)


async def _next_batch(source: LegacySource, state: _State, options: ImportOptions) -> bool:
    """Read and write the next batch of tenants; False when none is left."""
    try:
        tenants = await source.tenant_ids(state.cursor, options.batch_size)
        if not tenants:
            return False
        batch = Batch(*[await source.rows(table, state.cursor, tenants[-1]) for table in TABLES])
        await _write_batch(batch, tenants, state, options)
    except Exception as error:
        where = f"after tenant {state.cursor!r}" if state.cursor else "at the first tenant"
        then = "re-run to resume there" if state.progress else "nothing was written"
        raise ImportStopped(
            f"the batch {where} failed and was rolled back "
            f"({type(error).__name__}: {error}); {then}"
        ) from error
    state.last_batch_rows = batch.size
    return True


async def _report_rows_without_tenant(source: LegacySource, tally: Tally) -> None:
    for table in TABLES:
        for row in await source.rows_without_tenant(table):
            tally.skip(
                rows.problem(
                    table, row, rows.RowRejected("missing_tenant_id", "tenant_id is empty")
                )
            )


async def _write_batch(
    batch: Batch, tenants: list[str], state: _State, options: ImportOptions
) -> None:
    """One batch's writes and its progress, in one transaction (rolled back in a dry run)."""
    try:
        async with unit_of_work() as conn:
            writer = BatchWriter(
                conn,
                catalog=state.catalog,
                now=utcnow(),
                emit_events=options.emit_events,
                tally=state.tally,
            )
            await writer.write(batch)
            state.tally.tenants += len(tenants)
            if state.progress is not None:
                state.progress.cursor = tenants[-1]
                state.progress.stats = state.tally.to_stats()
                await state.progress.save(using_db=conn)
            if options.dry_run:
                raise _RollBack
    except _RollBack:
        pass
    state.cursor = tenants[-1]
