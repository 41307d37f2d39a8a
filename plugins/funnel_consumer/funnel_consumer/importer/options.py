"""What one run of the import is asked to do (light: the CLI imports it on every start)."""

from __future__ import annotations

from dataclasses import dataclass

NAME = "funnel-billing"
DEFAULT_BATCH_SIZE = 100
"""Tenants per batch (and per transaction)."""


@dataclass(frozen=True)
class ImportOptions:
    source_url: str
    dry_run: bool = False
    emit_events: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
