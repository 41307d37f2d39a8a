"""`GET /ready`: the database answers and every committed migration is applied, else 503."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from tortoise import connections

from core.store import db
from tests.conftest import TOKEN
from tests.support.api import Api
from tests.support.databases import recreate_postgres_database, sibling_url
from tests.support.processes import PAYMENTS, free_port
from tests.support.serving import wait_until_up

READY = {"status": "ready", "database": "ok", "migrations": "ok"}
LAST = db.migration_names()[-1]


def test_every_committed_migration_is_known() -> None:
    names = db.migration_names()
    assert names[0] == "0001_initial" and names == sorted(names)
    assert all(name[:4].isdigit() for name in names)


async def test_ready_when_everything_is_applied(api: Api) -> None:
    reply = await api.get("/ready", token=None)
    assert (reply.status, reply.body) == (200, READY)


@pytest.fixture
async def last_unapplied(database: str) -> AsyncIterator[None]:
    """The session database as if the newest migration were not applied yet."""
    connection = connections.get("default")
    rows = await connection.execute_query_dict(
        f"SELECT app, name FROM tortoise_migrations WHERE name = '{LAST}'"
    )
    assert len(rows) == 1
    await connection.execute_script(f"DELETE FROM tortoise_migrations WHERE name = '{LAST}'")
    try:
        yield
    finally:
        await connection.execute_script(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            f"VALUES ('models', '{LAST}', CURRENT_TIMESTAMP)"
        )


async def test_a_pending_migration_is_503_with_its_name(api: Api, last_unapplied: None) -> None:
    reply = await api.get("/ready", token=None)
    assert reply.status == 503
    assert reply.body == {
        "status": "not_ready",
        "database": "ok",
        "migrations": "pending",
        "pending": [LAST],
    }
    assert (await api.get("/health", token=None)).status == 200  # liveness is not readiness


async def test_all_applied_is_remembered(api: Api) -> None:
    assert (await api.get("/ready", token=None)).status == 200
    connection = connections.get("default")
    await connection.execute_script(f"DELETE FROM tortoise_migrations WHERE name = '{LAST}'")
    try:
        # once all were applied, a probe only pings: no query of the migrations again
        assert (await api.get("/ready", token=None)).status == 200
        assert await db.pending_migrations() == [LAST]
    finally:
        await connection.execute_script(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            f"VALUES ('models', '{LAST}', CURRENT_TIMESTAMP)"
        )


async def test_an_unreachable_database_is_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down() -> None:
        raise ConnectionRefusedError("no database")

    monkeypatch.setattr(db, "ping", down)
    reply = await api.get("/ready", token=None)
    assert reply.status == 503
    assert reply.body == {"status": "not_ready", "database": "error", "migrations": "unknown"}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/fresh.sqlite3"
    else:
        yield asyncio.run(recreate_postgres_database(sibling_url("fresh")))


async def test_a_fresh_empty_database_is_not_ready_until_migrated(
    fresh_url: str, clean_env: dict[str, str], repo_root: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": fresh_url,
        "PAYMENTS_INTERNAL_TOKEN": TOKEN,
        "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
        "PAYMENTS_EMBEDDED_DISPATCHER": "false",
        "PAYMENTS_PLAN_STATUS_CACHE": "false",
        "PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([PAYMENTS, "serve"], env=env, stdout=log, stderr=log)
        try:
            await wait_until_up(base, process)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/ready") as response:
                    assert response.status == 503
                    body = await response.json()
                assert body == {
                    "status": "not_ready",
                    "database": "ok",
                    "migrations": "pending",
                    "pending": db.migration_names(),
                }
                migrated = subprocess.run(
                    [PAYMENTS, "migrate"], env=env, capture_output=True, check=False
                )
                assert migrated.returncode == 0, migrated.stderr
                async with http.get(f"{base}/ready") as response:
                    assert response.status == 200
                    assert await response.json() == READY
        finally:
            process.terminate()
            process.wait(timeout=20)
