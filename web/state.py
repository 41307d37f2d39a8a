"""What a running app holds: settings, plugins and the configured providers and consumers."""

from __future__ import annotations

from dataclasses import dataclass

import pluggy
from quart import current_app

from core.config import Settings
from core.plugins import Registry


@dataclass
class AppState:
    settings: Settings
    plugins: pluggy.PluginManager
    registry: Registry


def state() -> AppState:
    """The state of the app serving the current request."""
    found: AppState = current_app.extensions["payments"]
    return found
