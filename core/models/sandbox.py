"""The sandbox provider's own side: the objects a real provider would hold at its end.

Owned by `plugins/sandbox_provider`: only it reads or writes this table (kept in the host's
schema and migrations; `docs/decisions.md`, "Layout", says why).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class SandboxObject(Model):
    """A checkout session, subscription, payment or customer "at" the sandbox provider."""

    id = fields.CharField(max_length=64, primary_key=True)
    provider_key = fields.CharField(max_length=40)
    kind = fields.CharField(max_length=32)
    data: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sandbox_objects"
        indexes = (
            Index(fields=("provider_key", "kind", "created_at"), name="sandbox_objects_kind_idx"),
        )
