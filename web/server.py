"""Hypercorn's configuration for this service, shared by `payments serve` and the benchmark's
hello-world baseline so that both run on exactly the same server setup."""

from __future__ import annotations

import logging

from hypercorn.config import Config


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75  # longer than typical client pools', so reuse is not cut short
    return config
