"""Startup fails fast, with one clear line, on bad configuration; plugins.toml semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEFAULT_RETRY_SCHEDULE, Settings
from core.errors import ConfigurationError
from core.plugin_config import load_plugins_file, substitute
from core.plugins import build_plugin_manager, load_registry
from tests.support.processes import run_payments


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return str(path)


def registry_error(tmp_path: Path, text: str, **env: str) -> str:
    settings = Settings.from_env({"PAYMENTS_PLUGINS_FILE": write(tmp_path, text), **env})
    with pytest.raises(ConfigurationError) as caught:
        load_registry(settings, build_plugin_manager())
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_substitution_rules() -> None:
    env = {"SET": "value", "EMPTY": ""}
    assert substitute("${SET}", env) == "value"
    assert substitute("a-${SET}-b", env) == "a-value-b"
    assert substitute("${UNSET:-fallback}", env) == "fallback"
    assert substitute("${EMPTY:-fallback}", env) == "fallback"
    assert substitute("x${UNSET}y", env) == "xy"
    assert substitute("plain", env) == "plain"
    assert type(substitute("${UNSET}", env)).__name__ == "_Unset"


def test_plugins_file_is_parsed_with_env(tmp_path: Path) -> None:
    text = """
default_provider = "${DEFAULT:-b}"
[providers.a]
plugin = "stripe"
secret_key = "${KEY}"
[providers.b]
plugin = "stripe"
enabled = true
[providers.c]
plugin = "stripe"
enabled = false
[consumers.funnel]
plugin = "funnel"
events_url = "${URL}"
"""
    parsed = load_plugins_file(write(tmp_path, text), {"KEY": "sk_1"})
    assert [(p.key, p.settings) for p in parsed.providers] == [
        ("a", {"secret_key": "sk_1"}),
        ("b", {}),
    ]
    assert parsed.default_provider == "b"
    assert parsed.consumers[0].settings == {}


def test_enabled_can_be_switched_from_the_environment(tmp_path: Path) -> None:
    text = '[providers.a]\nplugin = "stripe"\nenabled = "${A_ON:-true}"\n[providers.b]\nplugin = "stripe"\n'
    path = write(tmp_path, text)
    assert [p.key for p in load_plugins_file(path, {}).providers] == ["a", "b"]
    assert [p.key for p in load_plugins_file(path, {"A_ON": "false"}).providers] == ["b"]
    assert "'enabled' must be true or false" in registry_error(
        tmp_path, '[providers.a]\nplugin = "stripe"\nenabled = "maybe"\n'
    )


def test_unknown_plugin(tmp_path: Path) -> None:
    message = registry_error(tmp_path, '[providers.paypal]\nplugin = "paypal"\n')
    assert "unknown provider plugin 'paypal'" in message
    assert "stripe" in message


def test_duplicate_key(tmp_path: Path) -> None:
    message = registry_error(
        tmp_path, '[providers.stripe]\nplugin = "stripe"\n[providers.stripe]\nplugin = "stripe"\n'
    )
    assert "not valid TOML" in message


def test_missing_plugin_name(tmp_path: Path) -> None:
    assert "'plugin' is required" in registry_error(
        tmp_path, "[providers.stripe]\nsecret_key = 'x'\n"
    )


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    message = registry_error(tmp_path, '[providers.stripe]\nplugin = "stripe"\nsecrt_key = "x"\n')
    assert "secrt_key" in message


def test_missing_required_setting(tmp_path: Path) -> None:
    # The generic idea: a plugin's settings model decides what is required; an unset ${VAR}
    # leaves the setting out. Stripe's tolerance is required to be an int when given.
    message = registry_error(
        tmp_path, '[providers.stripe]\nplugin = "stripe"\nwebhook_tolerance = "${TOL}x"\n'
    )
    assert "webhook_tolerance" in message


def test_bad_keys_and_defaults(tmp_path: Path) -> None:
    assert "lowercase" in registry_error(tmp_path, '[providers.Stripe]\nplugin = "stripe"\n')
    two_defaults = '[providers.a]\nplugin = "stripe"\ndefault = true\n[providers.b]\nplugin = "stripe"\ndefault = true\n'
    assert "more than one provider" in registry_error(tmp_path, two_defaults)
    assert "not an enabled provider" in registry_error(
        tmp_path, 'default_provider = "zz"\n[providers.a]\nplugin = "stripe"\n'
    )
    assert "unknown top-level" in registry_error(tmp_path, "providres = 1\n")


def test_missing_plugins_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"PAYMENTS_PLUGINS_FILE": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigurationError, match="plugins file not found"):
        load_registry(settings, build_plugin_manager())


def test_settings_defaults_and_validation() -> None:
    settings = Settings.from_env({})
    assert settings.port == 3700
    assert settings.database_url.startswith("sqlite://")
    assert settings.delivery_retry_schedule == DEFAULT_RETRY_SCHEDULE
    assert 2.5 * 86400 < sum(DEFAULT_RETRY_SCHEDULE) < 3.5 * 86400
    assert settings.delivery_timeout == 10
    assert settings.past_due_grace_days == 0
    custom = Settings.from_env({"PAYMENTS_DELIVERY_RETRY_SCHEDULE": "1, 2,3", "PORT": "9000"})
    assert custom.delivery_retry_schedule == (1, 2, 3)
    assert custom.port == 9000
    for env in (
        {"PORT": "abc"},
        {"PORT": "0"},
        {"PAYMENTS_DELIVERY_RETRY_SCHEDULE": "1,x"},
        {"PAYMENTS_DELIVERY_TIMEOUT": "-1"},
        {"PAYMENTS_PAST_DUE_GRACE_DAYS": "-2"},
    ):
        with pytest.raises(ConfigurationError):
            Settings.from_env(env)
    with pytest.raises(ConfigurationError, match="PAYMENTS_INTERNAL_TOKEN"):
        Settings.from_env({}).require_internal_token()


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"PAYMENTS_INTERNAL_TOKEN": ""}, ("serve",), "PAYMENTS_INTERNAL_TOKEN is not set"),
        ({"PORT": "x"}, ("serve",), "PORT must be a whole number"),
        ({"PAYMENTS_DATABASE_URL": "mysql://h/db"}, ("migrate",), "sqlite:// or postgres://"),
        (
            {"PAYMENTS_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none"},
            ("serve",),
            "database unreachable",
        ),
        ({"PAYMENTS_PLUGINS_FILE": "bad.toml"}, ("plugins",), "unknown provider plugin 'nope'"),
    ],
)
def test_cli_fails_with_one_clear_line(
    tmp_path: Path,
    clean_env: dict[str, str],
    env: dict[str, str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    (tmp_path / "bad.toml").write_text('[providers.x]\nplugin = "nope"\n')
    (tmp_path / "plugins.toml").write_text('[providers.stripe]\nplugin = "stripe"\n')
    full = {
        **clean_env,
        "PAYMENTS_INTERNAL_TOKEN": "t",
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "PAYMENTS_PLUGINS_FILE": str(tmp_path / "plugins.toml"),
        "PORT": "1",
        **{k: (str(tmp_path / v) if k == "PAYMENTS_PLUGINS_FILE" else v) for k, v in env.items()},
    }
    done = run_payments(*args, env=full)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("payments: error: ")
    assert expected in lines[0]


def test_production_runs_with_the_sandbox_switched_off(
    clean_env: dict[str, str], repo_root: Path
) -> None:
    env = {
        **clean_env,
        "PAYMENTS_ENV": "production",
        "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
        "PAYMENTS_INTERNAL_TOKEN": "p" * 32,
    }
    refused = run_payments("plugins", env=env)
    assert refused.returncode == 2
    assert "[providers.sandbox]" in refused.stderr
    allowed = run_payments("plugins", env={**env, "PAYMENTS_SANDBOX_ENABLED": "false"})
    assert allowed.returncode == 0, allowed.stderr
    assert '"key": "sandbox"' not in allowed.stdout
