"""`payments events replay`: in bulk by status or time, or one by id; the summary and the
exit status, in process and as a real process (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from core.ingest import stored
from core.models import NormalizedEvent, ProviderEvent, Subscription
from core.plugins import Registry
from core.timeutil import isoformat, utcnow
from tests.ingest.test_deferred_events import (  # noqa: F401  (fixtures, used by name)
    app,
    completed_checkout,
    hooks,
    registry,
    remember_customer_directly,
    subscription_event,
)
from tests.ingest.test_deferred_events import (
    stored as stored_row,
)
from tests.support.api import Api
from tests.support.processes import run_payments
from tests.support.webhooks import SECRET, post_event
from web.cli import cli


async def _waiting(hooks: Api, n: int, *, unmatched: bool = False) -> list[str]:  # noqa: F811
    """`n` events about customers nobody knows (deferred, or past the TTL: unmatched)."""
    ids = []
    for i in range(n):
        event = subscription_event(f"sub_cli_{i}", f"cus_cli_{i}", created=1_790_000_000 + i)
        assert (await post_event(hooks, event)).body["status"] == "deferred"
        ids.append(str((await stored_row(event)).id))
    if unmatched:
        await ProviderEvent.filter(id__in=ids).update(status="unmatched")
    return ids


async def test_replay_by_status_applies_what_is_known_and_counts_the_rest(
    hooks: Api,  # noqa: F811
    registry: Registry,  # noqa: F811
) -> None:
    ids = await _waiting(hooks, 5, unmatched=True)
    for i in (1, 3):
        await remember_customer_directly(f"cus_cli_{i}", f"tenant_cli_{i}")
    seen: list[int] = []
    tally = await stored.replay_selected(
        registry, stored.Selection(status="unmatched"), lambda t: seen.append(t.replayed)
    )
    assert (tally.applied, tally.unchanged, tally.waiting, tally.failed) == (2, 0, 3, 0)
    assert tally.summary() == "replayed 5: applied 2, unchanged 0, waiting 3, failed 0"
    assert seen == [1, 2, 3, 4, 5]
    statuses = [(await ProviderEvent.get(id=row)).status for row in ids]
    assert statuses == ["unmatched", "processed", "unmatched", "processed", "unmatched"]
    assert await Subscription.all().count() == 2
    assert await stored.count_selected(stored.Selection(status="unmatched")) == 3


async def test_replay_since_and_by_id(hooks: Api, registry: Registry) -> None:  # noqa: F811
    old, recent = (
        completed_checkout(f"cs_cli_{age}", f"cus_{age}", f"tenant_{age}")
        for age in ("old", "recent")
    )
    for event in (old, recent):
        assert (await post_event(hooks, event)).body["status"] == "processed"
    ids = await _waiting(hooks, 3)
    await ProviderEvent.filter(id=(await stored_row(old)).id).update(
        received_at=utcnow() - timedelta(days=1)
    )
    events_before = await NormalizedEvent.all().count()
    since = utcnow() - timedelta(hours=1)
    tally = await stored.replay_selected(registry, stored.Selection(since=since))
    assert tally.summary() == "replayed 4: applied 0, unchanged 1, waiting 3, failed 0"
    assert await NormalizedEvent.all().count() == events_before

    await remember_customer_directly("cus_cli_2", "tenant_cli_2")
    one = await stored.replay_selected(registry, stored.Selection(id=ids[2]))
    assert one.summary() == "replayed 1: applied 1, unchanged 0, waiting 0, failed 0"
    missing = await stored.replay_selected(registry, stored.Selection(id="nope"))
    assert missing.failed == 1
    assert missing.failures == [("nope", "provider event 'nope' not found")]


def test_exactly_one_selector_is_a_usage_error() -> None:
    runner = CliRunner()
    for args in ([], ["--id", "x", "--status", "deferred"], ["--status", "processed"]):
        done = runner.invoke(cli, ["events", "replay", *args])
        assert done.exit_code == 2, (args, done.output)
    done = runner.invoke(cli, ["events", "replay", "--since", "last tuesday"])
    assert done.exit_code == 2
    assert "ISO-8601" in done.output


async def test_the_command_prints_a_summary_and_exits_1_when_any_failed(
    hooks: Api,  # noqa: F811
    database: str,
    clean_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ids = await _waiting(hooks, 4)
    await remember_customer_directly("cus_cli_0", "tenant_cli_0")
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": database,
        "PAYMENTS_PLUGINS_FILE": str(tmp_path / "plugins.toml"),  # the app fixture's
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": SECRET,
    }
    done = run_payments("events", "replay", "--status", "deferred", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "replayed 4: applied 1, unchanged 0, waiting 3, failed 0"
    )
    assert "Traceback" not in done.stderr
    assert (await ProviderEvent.get(id=ids[0])).status == "processed"

    await ProviderEvent.filter(id=ids[1]).update(payload="{pruned")
    since = isoformat(utcnow() - timedelta(hours=1))
    assert since is not None
    done = run_payments("events", "replay", "--since", since, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[-1] == (
        "replayed 4: applied 0, unchanged 1, waiting 2, failed 1"
    )
    assert f"payments: failed {ids[1]}:" in done.stderr

    done = run_payments("events", "replay", "--id", ids[2], env=env, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "replayed 1: applied 0, unchanged 0, waiting 1, failed 0",
    )
