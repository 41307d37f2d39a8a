"""Capturing this process's logs as the `payments` command writes them (JSON or text)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from core.logs import configure_logging, unconfigure_logging


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, each parsed as one JSON object (fails on any that is not)."""
        parsed = []
        for line in self.text.splitlines():
            value = orjson.loads(line)
            assert isinstance(value, dict), line
            parsed.append(value)
        return parsed

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]


@contextmanager
def captured_logs(fmt: str = "json", level: str = "INFO") -> Iterator[Captured]:
    """Configure logging as `payments` does, into a buffer; put everything back after."""
    root = logging.getLogger()
    before = root.level
    stream = io.StringIO()
    configure_logging(fmt, level, stream=stream)
    try:
        yield Captured(stream)
    finally:
        unconfigure_logging()
        root.setLevel(before)
