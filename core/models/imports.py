"""Progress of one-time imports, so a run that dies resumes where it stopped.

Owned by `plugins/funnel_consumer`'s `payments import funnel-billing`: only it reads or writes
this table (kept in the host's schema and migrations; `docs/decisions.md`, "Layout", says why).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class ImportProgress(Model):
    """How far an import (e.g. `funnel-billing`) got through one source database.

    `cursor` is the last unit of work finished (for the FunnelAI import: the last tenant id
    whose rows were all written), `stats` the running counts for the closing summary.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    source = fields.CharField(max_length=128)
    """A fingerprint of the source (never its password)."""
    cursor = fields.CharField(max_length=255, null=True)
    status = fields.CharField(max_length=16)
    """running | finished"""
    stats: dict[str, Any] = fields.JSONField(default=dict)
    started_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "import_progress"
        unique_together = (("name", "source"),)
