"""Reading `plugins.toml`: which provider keys and consumer keys are enabled, and how.

    default_provider = "stripe"        # optional; else the entry marked default = true,
                                       # else the first provider listed
    [providers.stripe]
    plugin = "stripe"                  # the plugin that serves this key
    secret_key = "${STRIPE_SECRET_KEY}"

    [consumers.funnel]
    plugin = "funnel"
    events_url = "${PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL}"

`${NAME}` is replaced by the environment variable NAME; `${NAME:-fallback}` uses the
fallback when NAME is unset or empty. A setting whose whole value is `${NAME}` with NAME
unset is left out, so the plugin's own settings model decides whether it was required.
`enabled = false` keeps an entry in the file but off; after substitution the strings
"true"/"false" count too, so `enabled = "${PAYMENTS_SANDBOX_ENABLED:-true}"` is a switch.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _Unset:
    """Marks a setting whose variable is unset, so it can be dropped."""


_UNSET = _Unset()


@dataclass(frozen=True)
class PluginEntry:
    """One `[providers.KEY]` or `[consumers.KEY]` table after substitution."""

    kind: str
    key: str
    plugin: str
    settings: dict[str, Any]
    default: bool = False


@dataclass(frozen=True)
class PluginsFile:
    path: str
    providers: list[PluginEntry] = field(default_factory=list)
    consumers: list[PluginEntry] = field(default_factory=list)
    default_provider: str | None = None


def substitute(value: str, env: Mapping[str, str]) -> str | _Unset:
    """Replace `${NAME}` and `${NAME:-fallback}` in one string value."""
    whole = _VARIABLE.fullmatch(value)
    if whole and whole.group(2) is None and not env.get(whole.group(1)):
        return _UNSET

    def replace(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        found = env.get(name)
        if found:
            return found
        return fallback if fallback is not None else ""

    return _VARIABLE.sub(replace, value)


def _resolve(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return substitute(value, env)
    if isinstance(value, list):
        return [v for v in (_resolve(item, env) for item in value) if v is not _UNSET]
    if isinstance(value, dict):
        resolved = {k: _resolve(v, env) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _UNSET}
    return value


def load_plugins_file(path: str, env: Mapping[str, str]) -> PluginsFile:
    """Parse and substitute the file; raise `ConfigurationError` with one clear line."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: plugins file not found (PAYMENTS_PLUGINS_FILE)"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not valid TOML: {error}") from None
    unknown = set(raw) - {"providers", "consumers", "default_provider"}
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level setting(s): {', '.join(sorted(unknown))}"
        )
    providers = _entries(path, "providers", raw.get("providers", {}), env)
    consumers = _entries(path, "consumers", raw.get("consumers", {}), env)
    default = raw.get("default_provider")
    if default is not None:
        default = _resolve(default, env)
        default = None if isinstance(default, _Unset) or default == "" else str(default)
    return PluginsFile(path, providers, consumers, default)


def _entries(path: str, kind: str, tables: Any, env: Mapping[str, str]) -> list[PluginEntry]:
    if not isinstance(tables, dict):
        raise ConfigurationError(f"{path}: [{kind}] must be a table of keys")
    entries: list[PluginEntry] = []
    for key, table in tables.items():
        where = f"{path}: [{kind}.{key}]"
        if not _KEY.match(key):
            raise ConfigurationError(
                f"{where}: a key is lowercase letters, digits and '_', starting with a letter"
            )
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where} must be a table")
        settings = _resolve(dict(table), env)
        enabled = settings.pop("enabled", True)
        if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false"):
            enabled = enabled.strip().lower() == "true"
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"{where}: 'enabled' must be true or false, got {enabled!r}")
        if not enabled:
            continue
        plugin = settings.pop("plugin", None)
        if not isinstance(plugin, str) or not plugin:
            raise ConfigurationError(f"{where}: 'plugin' is required (the plugin serving this key)")
        default = settings.pop("default", False)
        if not isinstance(default, bool):
            raise ConfigurationError(f"{where}: 'default' must be true or false")
        entries.append(PluginEntry(kind, key, plugin, settings, default))
    return entries
