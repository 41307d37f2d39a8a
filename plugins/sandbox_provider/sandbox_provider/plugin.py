"""Registers the `sandbox` provider plugin and its routes with platform-payments."""

from __future__ import annotations

from quart import Blueprint

from core.hookspecs import hookimpl
from core.providers import ProviderPlugin
from sandbox_provider import controls, inbox, page, portal
from sandbox_provider.provider import PLUGIN_NAME, SandboxProvider, SandboxSettings


@hookimpl
def register_providers() -> list[ProviderPlugin]:
    return [
        ProviderPlugin(
            name=PLUGIN_NAME,
            display_name="Sandbox",
            settings=SandboxSettings,
            build=SandboxProvider.build,
        )
    ]


@hookimpl
def register_routes() -> list[Blueprint]:
    return [page.blueprint, portal.blueprint, controls.blueprint, inbox.blueprint]
