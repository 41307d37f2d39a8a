"""The sandbox providers of the running app, for the sandbox's own routes.

`register_routes` is called whether or not plugins.toml enables a sandbox key, so every
sandbox route first asks which sandbox keys this app runs: none means the routes answer
404, as if they did not exist (and in production none can run: the plugin refuses to build).
"""

from __future__ import annotations

from sandbox_provider.provider import SandboxProvider
from web.state import state


def sandbox_providers() -> dict[str, SandboxProvider]:
    registry = state().registry
    return {
        key: provider
        for key, provider in registry.providers.items()
        if isinstance(provider, SandboxProvider)
    }


def sandbox_provider(key: str) -> SandboxProvider | None:
    return sandbox_providers().get(key)
