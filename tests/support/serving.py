"""A real `payments serve` process for tests about what only Hypercorn and a process show."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.support.processes import PAYMENTS, free_port, run_payments


async def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}")
            try:
                async with http.get(f"{base}/health") as response:
                    if response.status in (200, 503):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("serve did not come up")


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log_path: Path) -> AsyncIterator[tuple[str, int]]:
    """Migrate, then run `payments serve` with `env` on a free port; yields (base URL, port)."""
    port = free_port()
    env = {**env, "PORT": str(port)}
    migrated = run_payments("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PAYMENTS, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_until_up(base, process)
            yield base, port
        finally:
            process.terminate()
            process.wait(timeout=20)
