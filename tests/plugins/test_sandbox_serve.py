"""The sandbox through the real `payments serve`: the README quickstart, run as written with
bash and curl against a server set up the way `make run` sets it up, and the refusal to
start in production."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.processes import PAYMENTS, free_port, run_payments
from tests.support.serving import wait_until_up

QUICKSTART_HEADING = "## Quickstart without a provider account"


def quickstart_script(readme: str) -> str:
    """The first ```sh block of the README's quickstart section."""
    section = readme.split(QUICKSTART_HEADING, 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "the quickstart has no ```sh block"
    return found.group(1)


def make_run_env(clean_env: dict[str, str], tmp_path: Path, port: int) -> dict[str, str]:
    """What `make run` exports, with a fresh database and a free port."""
    return {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/quickstart.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": "dev-internal-token",
        "PORT": str(port),
        "PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL": f"http://localhost:{port}/sandbox/inbox",
    }


@pytest.fixture
async def make_run(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> AsyncIterator[int]:
    """`payments migrate` and `payments serve` from the repository root, as `make run` does."""
    port = free_port()
    env = make_run_env(clean_env, tmp_path, port)
    migrated = subprocess.run(
        [PAYMENTS, "migrate"],
        env=env,
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [PAYMENTS, "serve"], env=env, cwd=repo_root, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def bash(script: str, repo_root: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the quickstart failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def test_the_readme_quickstart_works_as_written(make_run: int, repo_root: Path) -> None:
    script = quickstart_script((repo_root / "README.md").read_text()).replace("3700", str(make_run))

    output = bash(script, repo_root)

    base = f"http://localhost:{make_run}"
    assert '"code":"starter_month"' in output
    assert re.search(rf"{base}/sandbox/checkout/cs_sbx_\w+$", output, re.MULTILINE)
    assert re.search(rf"^303 {base}/sandbox/return\?session_id=cs_sbx_\w+$", output, re.MULTILINE)
    assert '"entitled":true' in output and '"status":"active"' in output
    # The embedded dispatcher delivers within moments; a person reads the inbox later.
    inbox = script.strip().splitlines()[-1]
    prelude = "\n".join(
        line for line in script.splitlines() if line.startswith(("TOKEN=", "BASE="))
    )
    deadline = time.monotonic() + 30
    while '"type":"checkout.completed"' not in (listed := bash(f"{prelude}\n{inbox}", repo_root)):
        assert time.monotonic() < deadline, f"nothing delivered to the inbox: {listed}"
        await asyncio.sleep(0.1)
    assert '"type":"subscription.created"' in listed


def prelude(script: str) -> str:
    """The quickstart's TOKEN and BASE."""
    return "\n".join(x for x in script.splitlines() if x.startswith(("TOKEN=", "BASE=")))


def step(script: str, number: int) -> str:
    """The lines of the quickstart's step `number`, after its `# N.` comment, before the next."""
    lines = script.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"# {number}."))
    end = next(i for i, x in enumerate(lines) if x.startswith(f"# {number + 1}."))
    return "\n".join(lines[start + 1 : end]) + "\n"


def checkout_step(script: str) -> str:
    """The quickstart's step 2 (open a checkout), with its TOKEN and BASE, without printing."""
    opened = step(script, 2).replace('echo "$URL"', "")
    return f"{prelude(script)}\n{opened}"


async def test_a_typo_in_the_quickstart_prints_the_apis_message(
    make_run: int, repo_root: Path
) -> None:
    script = quickstart_script((repo_root / "README.md").read_text()).replace("3700", str(make_run))
    step = checkout_step(script)
    for typo, message in (
        ('"pricingItemCode":"startr_month"', "pricing item 'startr_month' not found"),
        ('"consumerKey":"funel"', "consumer 'funel' is not configured"),
    ):
        wrong = step.replace(typo.replace("startr", "starter").replace("funel", "funnel"), typo)
        assert wrong != step
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", wrong],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0
        assert f"error: {message}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_migrate_says_what_it_applied(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> None:
    env = make_run_env(clean_env, tmp_path, free_port())
    migrations = sorted(p.stem for p in (repo_root / "migrations").glob("0*.py"))

    first = run_payments("migrate", env=env)
    again = run_payments("migrate", env=env)

    assert first.returncode == 0, first.stderr
    applied = re.findall(r"^payments: applied \w+\.(\w+)$", first.stdout, re.MULTILINE)
    assert applied == migrations
    assert f"({len(migrations)} migrations applied)" in first.stdout
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "payments: database already up to date (no migration to apply)"


async def test_serve_port_is_the_port_of_the_sandboxs_urls(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> None:
    port = free_port()
    env = make_run_env(clean_env, tmp_path, 3700)  # PORT says 3700; --port wins
    assert run_payments("migrate", env=env).returncode == 0
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [PAYMENTS, "serve", "--port", str(port)],
        env=env,
        cwd=repo_root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{port}", process)
        script = quickstart_script((repo_root / "README.md").read_text()).replace("3700", str(port))
        output = bash(f"{prelude(script)}\n{step(script, 1)}{step(script, 2)}", repo_root)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert re.search(rf"http://localhost:{port}/sandbox/checkout/cs_sbx_\w+$", output, re.M)


def test_payments_serve_refuses_the_sandbox_in_production(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> None:
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/prod.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": "p" * 32,
        "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
        "PAYMENTS_ENV": "production",
        "PORT": str(free_port()),
    }

    done = run_payments("serve", env=env)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = json.loads(lines[0])["message"]  # production logs JSON: the one line is one object
    assert line.startswith("payments: error: ")
    assert "[providers.sandbox]" in line and "PAYMENTS_ENV=production" in line
