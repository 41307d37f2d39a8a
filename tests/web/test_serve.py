"""The real `payments serve` (Hypercorn) answers over HTTP; /health says when the database is gone."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.databases import recreate_postgres_database, sibling_url
from tests.support.processes import PAYMENTS, free_port, run_payments
from tests.support.serving import wait_until_up


@pytest.fixture
async def served(
    tmp_path: Path, clean_env: dict[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    database = getattr(request, "param", f"sqlite://{tmp_path}/served.sqlite3")
    port = free_port()
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": database,
        "PAYMENTS_INTERNAL_TOKEN": "tok",
        "PORT": str(port),
    }
    assert run_payments("migrate", env=env).returncode == 0
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([PAYMENTS, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


async def test_serve_lists_providers_over_http(served: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{served}/internal/payments/providers", headers={"x-platform-internal-token": "tok"}
        ) as r:
            assert r.status == 200
            body = await r.json()
        assert [p["key"] for p in body["data"]] == ["stripe", "sandbox"]
        async with http.get(f"{served}/internal/payments/providers") as r:
            assert r.status == 401
        async with http.get(f"{served}/health") as r:
            assert (await r.json())["database"] == "ok"


DOOMED = sibling_url("doomed")
DOOMED_NAME = DOOMED.rsplit("/", 1)[1]


@pytest.mark.parametrize("served", [DOOMED], indirect=True)
async def test_health_is_503_when_the_database_goes_away(served: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served}/health") as r:
            assert r.status == 200
        admin = await asyncpg.connect(DOOMED.rsplit("/", 1)[0] + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE "{DOOMED_NAME}" WITH (FORCE)')
        finally:
            await admin.close()
        async with http.get(f"{served}/health") as r:
            assert r.status == 503
            assert await r.json() == {"status": "error", "database": "error", "version": "0.1.0"}


@pytest.fixture(autouse=True)
async def fresh_doomed_database(request: pytest.FixtureRequest) -> None:
    if "health_is_503" in request.node.name:
        await recreate_postgres_database(DOOMED)
