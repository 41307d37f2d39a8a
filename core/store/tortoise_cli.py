"""Configuration for Tortoise's own CLI, used to write migrations after a model change:

    PAYMENTS_DATABASE_URL=sqlite://./data/make.sqlite3 \
        .venv/bin/tortoise -c core.store.tortoise_cli.TORTOISE_ORM makemigrations

Kept out of `core.store.db` so that importing the service never reads the environment.
"""

from __future__ import annotations

import os

from core.config import DEFAULT_DATABASE_URL
from core.store.db import tortoise_config

TORTOISE_ORM = tortoise_config(
    os.environ.get("PAYMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL, serving=False
)
