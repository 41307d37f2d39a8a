"""Fixtures: every database test runs on SQLite and on PostgreSQL.

The `backend` fixture is session-scoped and parametrized, so pytest runs all SQLite
cases, then all PostgreSQL cases, migrating each database once (with the real
migrations) and emptying its tables before each test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from tortoise.backends.base.executor import EXECUTOR_CACHE

from core.config import Settings
from core.store import db
from tests.support.api import Api
from tests.support.databases import backends, empty_all_tables, recreate_postgres_database

REPO = Path(__file__).resolve().parent.parent
TOKEN = "test-internal-token"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres_only: the test is about PostgreSQL (several processes, LISTEN/NOTIFY)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the SQLite twin of a `postgres_only` test instead of reporting it skipped."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("database_url") == "sqlite"
        (drop if on_sqlite and item.get_closest_marker("postgres_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=backends())
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of one backend, connected for the whole session."""
    if request.param == "postgres":
        url = await recreate_postgres_database()
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('sqlite')}/payments.sqlite3"
    await db.migrate(url)
    # Tortoise caches each model's SQL per connection *name*, not per dialect; both backends
    # use the name "default" in one test process, so forget SQLite's "?" placeholders.
    EXECUTOR_CACHE.clear()
    await db.connect(url)
    yield url
    await db.close()


@pytest.fixture
async def database(database_url: str) -> str:
    """The session's database, emptied for this test."""
    await empty_all_tables()
    return database_url


@pytest.fixture
def plugins_file(tmp_path: Path) -> Callable[[str], str]:
    """Write a plugins.toml for this test and return its path."""

    def write(text: str) -> str:
        path = tmp_path / "plugins.toml"
        path.write_text(text)
        return str(path)

    return write


DEFAULT_PLUGINS = """
[providers.stripe]
plugin = "stripe"
default = true
secret_key = "${STRIPE_SECRET_KEY}"
webhook_secrets = "${STRIPE_WEBHOOK_SECRET}"
api_base = "${STRIPE_API_BASE}"

[consumers.funnel]
plugin = "funnel"
events_url = "${PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL}"
token = "${PAYMENTS_INTERNAL_TOKEN}"
signing_secret = "${PAYMENTS_CONSUMER_FUNNEL_SIGNING_SECRET}"
"""


@pytest.fixture
def make_settings(database_url: str, plugins_file: Callable[[str], str]) -> Callable[..., Settings]:
    """Settings for the app under test: the session database, a token, a plugins file."""

    def build(plugins: str = DEFAULT_PLUGINS, **env: str) -> Settings:
        values = {
            "PAYMENTS_DATABASE_URL": database_url,
            "PAYMENTS_INTERNAL_TOKEN": TOKEN,
            "PAYMENTS_PLUGINS_FILE": plugins_file(plugins),
            **env,
        }
        return Settings.from_env(values)

    return build


@pytest.fixture
async def make_app(
    database: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Any]]:
    """Build and start apps over the test database; each is stopped after the test."""
    from web.app import create_app

    started: list[Any] = []

    async def build(plugins: str = DEFAULT_PLUGINS, **env: str) -> Quart:
        app = create_app(make_settings(plugins, **env), connect_database=False)
        context = app.test_app()
        await context.__aenter__()
        started.append(context)
        return app

    yield build
    for context in reversed(started):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def api(make_app: Callable[..., Any]) -> Api:
    """A client of the default app that sends the internal token."""
    return Api(await make_app(), TOKEN)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def clean_env() -> Iterator[dict[str, str]]:
    """The process environment without PAYMENTS_* and STRIPE_* (for subprocess tests)."""
    yield {k: v for k, v in os.environ.items() if not k.startswith(("PAYMENTS_", "STRIPE_"))}
