"""The committed migrations match the models, and apply cleanly (twice) on both databases."""

from __future__ import annotations

from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector

from core.store import db


async def test_models_have_no_changes_without_a_migration(database: str) -> None:
    config = db.tortoise_config(database)["apps"]
    detector = MigrationAutodetector(Tortoise.apps, config)
    pending = await detector.changes()
    described = [writer.name for writer in pending]
    assert pending == [], (
        "models changed without a migration; run "
        "`.venv/bin/tortoise -c core.store.tortoise_cli.TORTOISE_ORM makemigrations`: "
        + ", ".join(described)
    )


async def test_every_table_and_index_exists(database: str) -> None:
    connection = connections.get("default")
    for model in Tortoise.apps["models"].values():
        await connection.execute_query(f"SELECT COUNT(*) FROM {model._meta.db_table}")
    if connection.capabilities.dialect == "postgres":
        _, rows = await connection.execute_query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        )
    else:
        _, rows = await connection.execute_query(
            "SELECT name AS indexname FROM sqlite_master WHERE type = 'index'"
        )
    names = {row["indexname"] for row in rows}
    for expected in (
        "purchases_tenant_idx",
        "subscriptions_tenant_idx",
        "event_deliveries_due_idx",
        "pricing_items_public_idx",
    ):
        assert expected in names
