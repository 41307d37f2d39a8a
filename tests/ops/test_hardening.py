"""Hardening: PAYMENTS_ENV is exact, production refuses guessable or unverifiable settings, a
repeated token header is refused, internal bodies are limited, startup failures are one line."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from quart import Quart
from werkzeug.datastructures import Headers

from core.config import DEVELOPMENT_TOKEN, Settings
from core.errors import ConfigurationError
from core.plugins import build_plugin_manager, load_registry
from tests.conftest import TOKEN
from tests.support.api import Api
from tests.support.processes import free_port, run_payments
from web.fast_plan_status import PlanStatusFastPath
from web.request import INTERNAL_MAX_BODY_BYTES

STRONG = "s" * 32
STRIPE_ONLY = '[providers.stripe]\nplugin = "stripe"\nsecret_key = "${STRIPE_SECRET_KEY}"\n'
STRIPE_SIGNED = STRIPE_ONLY + 'webhook_secrets = "${STRIPE_WEBHOOK_SECRET}"\n'


@pytest.mark.parametrize("value", ["development", "production", "test"])
def test_each_environment_is_accepted(value: str) -> None:
    settings = Settings.from_env({"PAYMENTS_ENV": value, "PAYMENTS_INTERNAL_TOKEN": STRONG})
    assert settings.environment == value
    assert settings.production is (value == "production")


def test_no_environment_is_development() -> None:
    assert Settings.from_env({}).environment == "development"
    assert Settings.from_env({"PAYMENTS_ENV": ""}).environment == "development"


@pytest.mark.parametrize("value", ["Production", "prod", "PRODUCTION", " production", "dev"])
def test_any_other_environment_stops_startup(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"PAYMENTS_ENV": value})
    message = str(caught.value)
    assert "PAYMENTS_ENV must be one of development, production, test" in message
    assert repr(value) in message and "\n" not in message


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("x" * 31, "31 characters long"),
        ("short", "at least 32"),
        (DEVELOPMENT_TOKEN, "the development token"),
    ],
)
def test_production_refuses_a_weak_token(token: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        Settings.from_env({"PAYMENTS_ENV": "production", "PAYMENTS_INTERNAL_TOKEN": token})
    # the same token is fine in development and in tests
    Settings.from_env({"PAYMENTS_ENV": "development", "PAYMENTS_INTERNAL_TOKEN": token})
    Settings.from_env({"PAYMENTS_ENV": "test", "PAYMENTS_INTERNAL_TOKEN": token})


def test_production_accepts_a_strong_token_and_serve_refuses_none() -> None:
    settings = Settings.from_env({"PAYMENTS_ENV": "production", "PAYMENTS_INTERNAL_TOKEN": STRONG})
    assert settings.require_internal_token() == STRONG
    with pytest.raises(ConfigurationError, match="PAYMENTS_INTERNAL_TOKEN is not set"):
        Settings.from_env({"PAYMENTS_ENV": "production"}).require_internal_token()


def _registry(tmp_path: Path, text: str, **env: str) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    settings = Settings.from_env(
        {"PAYMENTS_PLUGINS_FILE": str(path), "PAYMENTS_INTERNAL_TOKEN": STRONG, **env}
    )
    load_registry(settings, build_plugin_manager())


def test_production_refuses_a_provider_key_without_a_webhook_secret(tmp_path: Path) -> None:
    env = {"PAYMENTS_ENV": "production", "STRIPE_SECRET_KEY": "sk_live_x"}
    with pytest.raises(ConfigurationError) as caught:
        _registry(tmp_path, STRIPE_ONLY, **env)
    message = str(caught.value)
    assert "[providers.stripe]" in message and "webhook_secrets" in message
    assert "PAYMENTS_ENV=production" in message and "\n" not in message
    with pytest.raises(ConfigurationError, match="webhook_secrets"):
        _registry(tmp_path, STRIPE_SIGNED, **env, STRIPE_WEBHOOK_SECRET="")
    # with a secret, or outside production, or with no key at all (not configured): it runs
    _registry(tmp_path, STRIPE_SIGNED, **env, STRIPE_WEBHOOK_SECRET="whsec_1")
    _registry(tmp_path, STRIPE_ONLY, STRIPE_SECRET_KEY="sk_test_x")
    _registry(tmp_path, STRIPE_ONLY, PAYMENTS_ENV="production")


def _one_line_exit_2(*args: str, env: dict[str, str], expected: str) -> None:
    done = run_payments(*args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    if line.startswith("{"):  # production logs JSON: the one line is one object
        line = json.loads(line)["message"]
    assert line.startswith("payments: error: ") and expected in line, lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PAYMENTS_ENV": "Production"}, "PAYMENTS_ENV must be one of"),
        ({"PAYMENTS_ENV": "prod"}, "got 'prod'"),
        ({"PAYMENTS_ENV": "production", "PAYMENTS_INTERNAL_TOKEN": "tok"}, "at least 32"),
        (
            {"PAYMENTS_ENV": "production", "PAYMENTS_INTERNAL_TOKEN": DEVELOPMENT_TOKEN},
            "development token",
        ),
        (
            {
                "PAYMENTS_ENV": "production",
                "PAYMENTS_SANDBOX_ENABLED": "false",
                "STRIPE_SECRET_KEY": "sk_live_x",
            },
            "no webhook_secrets",
        ),
    ],
)
def test_payments_serve_refuses_with_one_line(
    env: dict[str, str],
    expected: str,
    tmp_path: Path,
    clean_env: dict[str, str],
    repo_root: Path,
) -> None:
    full = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/p.sqlite3",
        "PAYMENTS_INTERNAL_TOKEN": STRONG,
        "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
        "PORT": str(free_port()),
        **env,
    }
    _one_line_exit_2("serve", env=full, expected=expected)


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_an_unreachable_database_is_one_line(
    command: str, clean_env: dict[str, str], repo_root: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {
        **clean_env,
        "PAYMENTS_DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/nowhere",
        "PAYMENTS_INTERNAL_TOKEN": TOKEN,
        "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
        "PORT": str(free_port()),
    }
    expected = "migration failed" if command == "migrate" else "database unreachable"
    _one_line_exit_2(command, env=env, expected=expected)


def test_a_second_serve_on_a_taken_port_is_one_line(
    tmp_path: Path, clean_env: dict[str, str], repo_root: Path
) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **clean_env,
            "PAYMENTS_DATABASE_URL": f"sqlite://{tmp_path}/p.sqlite3",
            "PAYMENTS_INTERNAL_TOKEN": TOKEN,
            "PAYMENTS_PLUGINS_FILE": str(repo_root / "plugins.toml"),
            "PORT": str(port),
        }
        _one_line_exit_2("serve", env=env, expected=f"port {port} is in use")


PLAN_STATUS = "/internal/payments/tenants/t1/plan-status"


async def test_a_repeated_token_header_is_401_like_a_wrong_token(api: Api) -> None:
    wrong = await api.get("/internal/payments/providers", token="nope")
    assert wrong.status == 401
    for path in ("/internal/payments/providers", PLAN_STATUS):
        for pair in ((TOKEN, TOKEN), (TOKEN, "nope"), ("nope", TOKEN)):
            headers = Headers([("x-platform-internal-token", value) for value in pair])
            response = await api.client.get(path, headers=headers)
            assert response.status_code == 401, (path, pair)
            assert await response.get_json() == wrong.body
        assert (await api.get(path)).status == 200


def test_the_plan_status_fast_path_leaves_a_repeated_header_to_quart(
    make_settings: Callable[..., Settings],
) -> None:
    from web.app import create_app

    app: Quart = create_app(make_settings(), connect_database=False)
    fast = app.asgi_app
    while not isinstance(fast, PlanStatusFastPath):  # below the request log's wrapper
        fast = fast.inner  # type: ignore[attr-defined]

    def scope(*tokens: str) -> dict[str, object]:
        headers = [(b"x-platform-internal-token", token.encode()) for token in tokens]
        return {
            "type": "http",
            "method": "GET",
            "path": PLAN_STATUS,
            "query_string": b"",
            "headers": headers,
        }

    assert fast._recognise(scope(TOKEN)) == ("t1", None)  # type: ignore[arg-type]
    assert fast._recognise(scope(TOKEN, TOKEN)) is None  # type: ignore[arg-type]
    assert fast._recognise(scope("nope", TOKEN)) is None  # type: ignore[arg-type]
    assert fast._recognise(scope()) is None  # type: ignore[arg-type]


def _item(padding: int) -> dict[str, object]:
    return {
        "code": "big",
        "name": "Big",
        "kind": "one_time",
        "unitAmount": 100,
        "currency": "eur",
        "metadata": {"pad": "x" * padding},
    }


async def test_an_internal_body_over_256_kib_is_413(api: Api) -> None:
    route = "/internal/payments/pricing-items"
    over = await api.post(route, json=_item(INTERNAL_MAX_BODY_BYTES))
    assert over.status == 413, over.body
    assert over.body == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "request body too large",
        "code": "payload_too_large",
    }
    under = await api.post(route, json=_item(INTERNAL_MAX_BODY_BYTES - 1024))
    assert under.status != 413
    # streamed without a length: refused as it arrives
    chunked = await api.post(
        route,
        data=b"x" * (INTERNAL_MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert chunked.status == 413


async def test_webhooks_keep_their_1_mib_limit(api: Api) -> None:
    body = b'{"id": "evt_1", "pad": "' + b"x" * (512 * 1024) + b'"}'
    reply = await api.post(
        "/webhooks/stripe", data=body, headers={"content-type": "application/json"}, token=None
    )
    assert reply.status == 400, reply.body  # refused for its signature, not for its size
    huge = await api.post(
        "/webhooks/stripe",
        data=b"x" * (1024 * 1024 + 1),
        headers={"content-type": "application/json"},
        token=None,
    )
    assert huge.status == 413
