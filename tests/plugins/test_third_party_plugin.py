"""A plugin from another distribution is discovered and used without touching the host.

The test writes a tiny package, installs it into this environment with pip, and checks
that the real `payments` command finds it (its provider, its CLI command, its route).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import run_payments

PLUGIN_SOURCE = '''
"""acme: a provider, a command and a route, to prove the seams."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from pydantic import BaseModel
from quart import Blueprint

from core.facts import WebhookEvent
from core.hookspecs import hookimpl
from core.providers import PaymentProvider, ProviderPlugin


class AcmeSettings(BaseModel):
    api_key: str  # required: missing means startup fails


class AcmeProvider(PaymentProvider):
    capabilities = frozenset({"checkout.payment"})
    configured = True

    async def ensure_customer(self, request):  # pragma: no cover - not exercised
        return "cus_acme"

    async def create_checkout_session(self, request, provider_customer_id):  # pragma: no cover
        raise NotImplementedError

    async def retrieve_checkout_session(self, provider_checkout_session_id):  # pragma: no cover
        raise NotImplementedError

    async def retrieve_subscription(self, provider_subscription_id):  # pragma: no cover
        raise NotImplementedError

    async def retrieve_payment(self, provider_payment_id):  # pragma: no cover
        raise NotImplementedError

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:  # pragma: no cover
        pass

    def parse_webhook(self, body: bytes) -> WebhookEvent:  # pragma: no cover
        raise NotImplementedError


def build(key: str, settings: Any, service: Any) -> AcmeProvider:
    return AcmeProvider(key, "acme", "Acme Pay")


@hookimpl
def register_providers():
    return [ProviderPlugin(name="acme", display_name="Acme Pay", settings=AcmeSettings, build=build)]


@hookimpl
def register_commands(cli):
    @cli.command(name="acme-hello")
    def hello() -> None:
        """Say hello from acme."""
        click.echo("hello from acme")


bp = Blueprint("acme", __name__)


@bp.get("/acme/ping")
async def ping():
    return {"pong": True}


@hookimpl
def register_routes():
    return [bp]
'''


@pytest.fixture(scope="module")
def acme_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("acme")
    (root / "acme_payments").mkdir()
    (root / "acme_payments" / "__init__.py").write_text(PLUGIN_SOURCE)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "acme-payments-plugin"
            version = "1.2.3"

            [project.entry-points.platform_payments]
            acme = "acme_payments"

            [tool.setuptools]
            packages = ["acme_payments"]
            """
        )
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(root)], check=True)
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "acme-payments-plugin"], check=True)


def test_installed_plugin_is_listed_configured_and_used(
    acme_installed: None, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    plugins = tmp_path / "plugins.toml"
    plugins.write_text('[providers.acme]\nplugin = "acme"\napi_key = "${ACME_KEY}"\n')
    env = {
        **clean_env,
        "PAYMENTS_PLUGINS_FILE": str(plugins),
        "ACME_KEY": "k",
        "PAYMENTS_INTERNAL_TOKEN": "t",
    }

    listed = run_payments("plugins", env=env)
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    acme = next(p for p in report["installed"] if p["name"] == "acme")
    assert acme["distribution"] == "acme-payments-plugin"
    assert acme["version"] == "1.2.3"
    assert acme["hooks"] == ["register_commands", "register_providers", "register_routes"]
    assert report["providers"] == [
        {"key": "acme", "plugin": "acme", "default": True, "configured": True}
    ]

    hello = run_payments("acme-hello", env=env)
    assert (hello.returncode, hello.stdout.strip()) == (0, "hello from acme")

    script = textwrap.dedent(
        """
        import asyncio, json
        from core.config import Settings
        from web.app import create_app

        async def main():
            app = create_app(Settings.from_env(), connect_database=False)
            client = app.test_client()
            providers = await client.get("/internal/payments/providers", headers={"x-platform-internal-token": "t"})
            ping = await client.get("/acme/ping")
            print(json.dumps([await providers.get_json(), await ping.get_json()]))

        asyncio.run(main())
        """
    )
    used = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert used.returncode == 0, used.stderr
    providers, ping = json.loads(used.stdout)
    assert providers["data"][0]["displayName"] == "Acme Pay"
    assert providers["data"][0]["capabilities"] == ["checkout.payment"]
    assert ping == {"pong": True}


def test_missing_required_plugin_setting_stops_startup(
    acme_installed: None, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    plugins = tmp_path / "plugins.toml"
    plugins.write_text('[providers.acme]\nplugin = "acme"\napi_key = "${ACME_KEY}"\n')
    env = {**clean_env, "PAYMENTS_PLUGINS_FILE": str(plugins), "PAYMENTS_INTERNAL_TOKEN": "t"}
    done = run_payments("serve", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"payments: error: {plugins}: [providers.acme] missing required setting 'api_key'"
    )


def test_two_plugins_with_one_name_stop_startup(
    acme_installed: None, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    # Registering the acme module a second time under another name offers plugin "acme" twice.
    script = textwrap.dedent(
        """
        import importlib, sys
        from core.errors import ConfigurationError
        from core.plugins import build_plugin_manager, provider_plugins
        manager = build_plugin_manager()
        clone = importlib.util.module_from_spec(importlib.util.find_spec("acme_payments"))
        clone.__spec__.loader.exec_module(clone)
        manager.register(clone, name="acme-copy")
        try:
            provider_plugins(manager)
        except ConfigurationError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=clean_env, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "two installed provider plugins are both named 'acme'"
