"""Finding plugins (pluggy + entry points) and building the configured providers and consumers.

`build_plugin_manager()` loads every installed distribution that registers under the
`platform_payments` entry-point group. `load_registry()` then reads `plugins.toml` and
builds one provider per provider key and one consumer per consumer key, failing fast,
with one line naming the problem, on an unknown plugin, a duplicate name or a bad setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from core import hookspecs
from core.config import Settings
from core.consumers import ConsumerPlugin, EventConsumer
from core.errors import ConfigurationError, NotFound
from core.logs import register_setting_secrets
from core.plugin_config import PluginEntry, load_plugins_file
from core.providers import PaymentProvider, ProviderPlugin


def build_plugin_manager(extra_plugins: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the host's hook specs and every installed plugin loaded."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    for plugin in extra_plugins:
        manager.register(plugin)
    return manager


@dataclass(frozen=True)
class InstalledPlugin:
    """One registered plugin, for `payments plugins` and the docs."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def installed_plugins(manager: pluggy.PluginManager) -> list[InstalledPlugin]:
    """Every plugin the manager holds, with its distribution, version and implemented hooks."""
    dists: dict[int, Any] = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    found = []
    for plugin in manager.get_plugins():
        name = manager.get_name(plugin) or repr(plugin)
        if plugin is hookspecs:
            continue
        dist = dists.get(id(plugin))
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        found.append(
            InstalledPlugin(
                name=name,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                hooks=hooks,
            )
        )
    return sorted(found, key=lambda p: p.name)


def _by_name(kind: str, offered: Iterable[list[Any]]) -> dict[str, Any]:
    plugins: dict[str, Any] = {}
    for batch in offered:
        for plugin in batch or ():
            if plugin.name in plugins:
                raise ConfigurationError(
                    f"two installed {kind} plugins are both named '{plugin.name}'"
                )
            plugins[plugin.name] = plugin
    return plugins


def provider_plugins(manager: pluggy.PluginManager) -> dict[str, ProviderPlugin]:
    return _by_name("provider", manager.hook.register_providers())


def consumer_plugins(manager: pluggy.PluginManager) -> dict[str, ConsumerPlugin]:
    return _by_name("consumer", manager.hook.register_consumers())


@dataclass
class Registry:
    """The providers and consumers this process runs, keyed as `plugins.toml` names them."""

    providers: dict[str, PaymentProvider] = field(default_factory=dict)
    consumers: dict[str, EventConsumer] = field(default_factory=dict)
    default_provider_key: str | None = None

    def provider(self, key: str | None) -> PaymentProvider:
        """The provider for a key (the default one for None); 404 for an unknown key."""
        chosen = key or self.default_provider_key
        if chosen is None or chosen not in self.providers:
            raise NotFound(
                f"provider '{chosen}' is not enabled" if chosen else "no provider is enabled",
                code="provider_not_found",
            )
        return self.providers[chosen]

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()


def _settings(entry: PluginEntry, model: type[BaseModel], path: str) -> BaseModel:
    try:
        return model.model_validate(entry.settings)
    except ValidationError as error:
        problem = error.errors()[0]
        field_name = ".".join(str(part) for part in problem["loc"]) or "settings"
        if problem["type"] == "missing":
            message = f"missing required setting '{field_name}'"
        else:
            message = f"setting '{field_name}': {problem['msg']}"
        raise ConfigurationError(f"{path}: [{entry.kind}.{entry.key}] {message}") from None


def load_registry(settings: Settings, manager: pluggy.PluginManager) -> Registry:
    """Build the configured providers and consumers; `ConfigurationError` on any problem."""
    config = load_plugins_file(settings.plugins_file, settings.env)
    for entry in (*config.providers, *config.consumers):
        register_setting_secrets(entry.settings)  # never shown in a log line
    offered_providers = provider_plugins(manager)
    offered_consumers = consumer_plugins(manager)
    registry = Registry()
    for entry in config.providers:
        provider_plugin = offered_providers.get(entry.plugin)
        if provider_plugin is None:
            raise ConfigurationError(
                f"{config.path}: [providers.{entry.key}] names unknown provider plugin "
                f"'{entry.plugin}' (installed: {', '.join(sorted(offered_providers)) or 'none'})"
            )
        validated = _settings(entry, provider_plugin.settings, config.path)
        registry.providers[entry.key] = provider_plugin.build(entry.key, validated, settings)
    for entry in config.consumers:
        consumer_plugin = offered_consumers.get(entry.plugin)
        if consumer_plugin is None:
            raise ConfigurationError(
                f"{config.path}: [consumers.{entry.key}] names unknown consumer plugin "
                f"'{entry.plugin}' (installed: {', '.join(sorted(offered_consumers)) or 'none'})"
            )
        validated = _settings(entry, consumer_plugin.settings, config.path)
        registry.consumers[entry.key] = consumer_plugin.build(entry.key, validated, settings)
    registry.default_provider_key = _default_provider(
        config.path, config.default_provider, config.providers, registry
    )
    return registry


def _default_provider(
    path: str, named: str | None, entries: list[PluginEntry], registry: Registry
) -> str | None:
    """The provider used when a request names none.

    `default_provider`, else the entry marked `default = true`, else the first listed; and
    when that one is not configured (no secret key), the first provider that is, so that a
    machine without Stripe keys falls back to a keyless provider such as the sandbox.
    """
    keys = [entry.key for entry in entries]
    if named is not None:
        if named not in keys:
            raise ConfigurationError(
                f"{path}: default_provider '{named}' is not an enabled provider"
            )
        chosen: str | None = named
    else:
        flagged = [entry.key for entry in entries if entry.default]
        if len(flagged) > 1:
            raise ConfigurationError(
                f"{path}: more than one provider is marked default: {', '.join(flagged)}"
            )
        chosen = flagged[0] if flagged else (keys[0] if keys else None)
    if chosen is not None and not registry.providers[chosen].configured:
        configured = [key for key in keys if registry.providers[key].configured]
        if configured:
            return configured[0]
    return chosen
