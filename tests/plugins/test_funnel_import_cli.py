"""`payments import funnel-billing` as a real process: exit codes, the report, clear errors,
a run killed with SIGKILL and restarted, and memory that stays flat as the source grows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import click
import pytest
from funnel_consumer.importer.command import add_to
from funnel_consumer.importer.options import ImportOptions
from funnel_consumer.importer.run import run_import

from core.errors import ConfigurationError
from core.models import ImportProgress, Subscription
from tests.support.databases import empty_all_tables
from tests.support.deliveries import eventually
from tests.support.legacy_billing import (
    LegacySources,
    generate,
    postgres_url,
    seed_catalog,
    snapshot,
    tenant_id,
    write_sqlite,
)
from tests.support.processes import PAYMENTS, run_payments

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sources(database: str, tmp_path: Path) -> AsyncIterator[LegacySources]:
    await seed_catalog()
    made = LegacySources(tmp_path)
    yield made
    await made.close()


@pytest.fixture
def env(database: str, clean_env: dict[str, str]) -> dict[str, str]:
    """The command's environment: our test database, nothing else of the host's."""
    return {**clean_env, "PAYMENTS_DATABASE_URL": database}


def import_args(source: str, *extra: str) -> tuple[str, ...]:
    return ("import", "funnel-billing", "--source", source, *extra)


async def test_bad_rows_exit_1_with_a_summary_and_a_json_report(
    sources: LegacySources, env: dict[str, str], tmp_path: Path
) -> None:
    legacy = generate(15)
    legacy.subscriptions.append({**legacy.subscriptions[0], "id": 777, "plan_code": "gold"})
    url = await sources.make(legacy)
    report_path = tmp_path / "report.json"

    done = run_payments(*import_args(url, "--report", str(report_path)), env=env, timeout=120)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "skipped billing_subscriptions id=777 tenant=tenant_000000: unknown_plan_code" in (
        done.stdout
    )
    assert "1 row(s) were not imported" in done.stderr
    report = json.loads(report_path.read_text())
    assert report["totals"]["created"] == legacy.rows - 1
    assert report["skippedByReason"] == {"unknown_plan_code": 1}
    assert report["skipped"][0]["id"] == "777"
    assert report["dryRun"] is False

    # Run twice: nothing more to import, the same row reported again, the same exit status.
    twice = run_payments(*import_args(url, "--report", str(report_path)), env=env, timeout=120)
    assert twice.returncode == 1, twice.stderr
    second = json.loads(report_path.read_text())
    assert second["totals"]["unchanged"] == legacy.rows - 1
    assert (second["totals"]["created"], second["totals"]["updated"]) == (0, 0)
    assert second["skipped"] == report["skipped"]

    clean = await sources.make(generate(15), name="clean")
    again = run_payments(*import_args(clean, "--dry-run"), env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("DRY RUN")


async def test_bad_input_is_one_clear_line_and_exit_2(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    good = write_sqlite(tmp_path / "legacy.sqlite3", generate(2))
    # A database nobody migrated: the source errors come first, then this one.
    env = {**clean_env, "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/ours.sqlite3"}
    cases = {
        good: "the payments database is not ready (run `payments migrate`)",
        "mysql://legacy/billing": "must be a postgres:// or sqlite:// URL",
        f"sqlite://{tmp_path}/missing.sqlite3": "source SQLite file not found",
        f"sqlite://{empty}": "source has no usable table billing_customers",
        postgres_url("does_not_exist"): "cannot open the source database",
    }
    for source, message in cases.items():
        done = run_payments(*import_args(source), env=env)
        assert done.returncode == 2, (source, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (source, done.stderr)
        assert lines[0].startswith("payments: error: ")
        assert message in lines[0], (source, lines[0])
    assert not (tmp_path / "missing.sqlite3").exists()


async def test_a_killed_run_resumes_to_the_records_of_an_uninterrupted_one(
    sources: LegacySources, env: dict[str, str], tmp_path: Path
) -> None:
    legacy = generate(800)
    url = await sources.make(legacy)
    process = await asyncio.create_subprocess_exec(
        PAYMENTS,
        *import_args(url, "--batch-size", "2"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(tmp_path),
    )
    try:

        async def passed(tenant: str) -> bool:
            if process.returncode is not None:
                raise AssertionError("the import ended before it could be killed")
            progress = await ImportProgress.get_or_none(name="funnel-billing")
            return progress is not None and (progress.cursor or "") >= tenant

        # Let it commit well into the source, then kill it without warning.
        await eventually(lambda: passed(tenant_id(100)), within=60, what="cursor past 100")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    progress = await ImportProgress.get(name="funnel-billing")
    assert progress.status == "running"
    assert progress.cursor is not None and progress.cursor < tenant_id(799)
    assert 0 < await Subscription.all().count() < len(legacy.subscriptions)

    report_path = tmp_path / "resumed.json"
    done = run_payments(*import_args(url, "--report", str(report_path)), env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["resumedAfterTenant"] == progress.cursor
    # The killed batch rolled back: each row counted once over the two runs.
    assert report["totals"]["created"] == legacy.rows
    assert report["tenants"] == 800
    resumed = await snapshot()

    await empty_all_tables()
    await seed_catalog()
    uninterrupted = await run_import(ImportOptions(url))
    assert uninterrupted.tally.totals()["created"] == legacy.rows
    assert await snapshot() == resumed


MEMORY_PROBE = """
import asyncio, json, sys, tracemalloc
from core.store import db
from funnel_consumer.importer.options import ImportOptions
from funnel_consumer.importer.run import run_import
from tests.support.legacy_billing import seed_catalog

async def main(ours: str, source: str) -> None:
    await db.migrate(ours)
    await db.connect(ours)
    await seed_catalog()
    tracemalloc.start()
    report = await run_import(ImportOptions(source, batch_size=100))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await db.close()
    print(json.dumps({"peak": peak, "rows": report.tally.rows, "created": report.tally.totals()["created"]}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_memory_stays_flat_from_1000_to_10000_rows(tmp_path: Path) -> None:
    """Peak traced memory of the whole import, in fresh processes, one after the other (side
    by side, the two competed for the cores and the peak moved with the machine's load)."""
    probes = []
    for tenants in (350, 3500):
        legacy = generate(tenants)
        source = write_sqlite(tmp_path / f"legacy-{tenants}.sqlite3", legacy)
        ours = f"sqlite://{tmp_path}/ours-{tenants}.sqlite3"
        probes.append((legacy.rows, ours, source))
    assert probes[0][0] >= 1_000
    assert probes[1][0] >= 10_000

    async def probe(ours: str, source: str) -> dict[str, int]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MEMORY_PROBE,
            ours,
            source,
            cwd=str(REPO),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        result: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    small = await probe(probes[0][1], probes[0][2])
    large = await probe(probes[1][1], probes[1][2])

    assert small["created"] == probes[0][0]
    assert large["created"] == probes[1][0]
    # Ten times the rows, about the same peak: rows are held one batch at a time.
    assert large["peak"] < small["peak"] * 1.5, (small, large)


def test_the_import_group_is_shared_with_other_plugins() -> None:
    cli = click.Group("payments")
    theirs = click.Group("import")
    theirs.add_command(click.Command("crm-contacts", callback=lambda: None))
    cli.add_command(theirs)

    add_to(cli)

    assert cli.commands["import"] is theirs
    assert set(theirs.commands) == {"crm-contacts", "funnel-billing"}
    alone = click.Group("payments")
    add_to(alone)
    group = alone.commands["import"]
    assert isinstance(group, click.Group)
    assert set(group.commands) == {"funnel-billing"}
    clash = click.Group("payments")
    clash.add_command(click.Command("import", callback=lambda: None))
    with pytest.raises(ConfigurationError, match="not a group"):
        add_to(clash)


async def test_a_source_lost_midway_stops_with_one_line_and_keeps_progress(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """The legacy PostgreSQL database goes away mid-run: exit 3, progress kept."""
    sources = LegacySources(tmp_path)
    source = await sources.make(generate(600), "postgres", name="doomed")
    ours = tmp_path / "ours.sqlite3"
    env = {**clean_env, "PAYMENTS_DATABASE_URL": f"sqlite://{ours}"}
    assert run_payments("migrate", env=env).returncode == 0
    process = await asyncio.create_subprocess_exec(
        PAYMENTS,
        *import_args(source, "--batch-size", "2"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )

    def cursor() -> str | None:
        with sqlite3.connect(ours, timeout=10) as connection:
            row = connection.execute("SELECT cursor FROM import_progress").fetchone()
        return None if row is None else row[0]

    async def moved() -> bool:
        if process.returncode is not None:
            raise AssertionError("the import ended before its source went away")
        return cursor() is not None

    try:
        await eventually(moved, within=60, what="the progress cursor to move")
        await sources.close()  # DROP DATABASE ... WITH (FORCE): its connection is cut
        assert process.stderr is not None
        stderr = (await asyncio.wait_for(process.stderr.read(), 60)).decode()
        code = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert code == 3, stderr
    assert "Traceback" not in stderr
    stopped = [line for line in stderr.splitlines() if line.startswith("payments: ")]
    assert len(stopped) == 1
    assert stopped[0].startswith("payments: import stopped: the batch after tenant")
    assert stopped[0].endswith("re-run to resume there"), stopped[0]
    with sqlite3.connect(ours) as connection:
        status, kept = connection.execute("SELECT status, cursor FROM import_progress").fetchone()
    assert (status, kept is not None) == ("running", True)
